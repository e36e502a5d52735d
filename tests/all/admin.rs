//! The operator surface: admin tokens, the audit query, exceptions, reviews
//! feeding the `review` policy, client tokens and `/metrics`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Gatehouse, Setup, eventually};

/// A gatehouse with the deny-list (blocking `left-pad@1.0.0`) and review policies.
fn gatehouse(review_required: bool, extra_config: &str) -> Gatehouse {
    Gatehouse::start(Setup {
        policies: vec!["deny-list", "review"],
        gate_policy: format!(
            "policies:\n  default:\n    deny-list:\n      packages: [\"left-pad@1.0.0\"]\n    review:\n      require: {review_required}\n      min_score: 3.0\n"
        ),
        extra_config: extra_config.into(),
        ..Setup::default()
    })
}

async fn post(gatehouse: &Gatehouse, path: &str, body: Value) -> (StatusCode, Value) {
    let response = gatehouse
        .admin(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn admin_calls_need_a_valid_token_and_refusals_are_audited() {
    let gatehouse = gatehouse(false, "");
    let url = format!("{}/api/v1/admin/components", gatehouse.url);
    let client = Gatehouse::client();

    let none = client.get(&url).send().await.expect("request");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("www-authenticate"));
    let wrong = client
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.expect("json");
    assert!(
        body["error"].as_str().unwrap_or("").contains("not valid"),
        "{body}"
    );

    let components = gatehouse.admin_json("/api/v1/admin/components").await;
    assert!(components["components"].is_array(), "{components}");

    let failures = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=auth-failure")
        .await;
    let records = failures["records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{failures}");
    assert_eq!(records[0]["requester"], "127.0.0.1");
}

#[tokio::test]
async fn audit_query_filters_and_pages() {
    let gatehouse = gatehouse(false, "");
    for (name, version) in [
        ("left-pad", "1.0.0"),
        ("left-pad", "1.1.0"),
        ("right-pad", "1.0.0"),
        ("left-pad", "1.0.0"),
    ] {
        gatehouse.decide("npm", name, version).await;
    }
    let blocks = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?ecosystem=npm&package=left-pad&action=block")
        .await;
    let records = blocks["records"].as_array().expect("records");
    assert_eq!(records.len(), 2, "{blocks}");
    assert!(records.iter().all(|r| r["version"] == "1.0.0"
        && r["rule"] == "deny-list"
        && r["requester"] == "127.0.0.1"));
    assert!(records[0]["line"].as_u64() > records[1]["line"].as_u64());

    let first = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=check&user=127.0.0.1&since=1h&limit=3")
        .await;
    assert_eq!(first["records"].as_array().map(Vec::len), Some(3));
    let next = first["next"].as_u64().expect("a next page");
    let second = gatehouse
        .admin_json(&format!(
            "/api/v1/admin/proxy/audit?event=check&limit=3&before={next}"
        ))
        .await;
    assert_eq!(second["records"].as_array().map(Vec::len), Some(1));
    assert!(second["next"].is_null());

    let nobody = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?user=alice")
        .await;
    assert_eq!(nobody["records"].as_array().map(Vec::len), Some(0));
    let bad = gatehouse
        .admin(Method::GET, "/api/v1/admin/proxy/audit?since=someday")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn exceptions_allow_past_named_rules_until_they_expire() {
    let gatehouse = gatehouse(false, "");
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.0.0").await, "block");

    let exception = |rules: Value, expires_in: &str| {
        json!({
            "ecosystem": "npm",
            "package": "left-pad",
            "versions": "<1.1",
            "rules": rules,
            "reason": "patched in our fork",
            "expires_in": expires_in,
        })
    };
    // Another rule's exception changes nothing.
    let (status, _) = post(
        &gatehouse,
        "/api/v1/admin/exceptions",
        exception(json!(["vulnerability"]), "1h"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.0.0").await, "block");

    let (status, created) = post(
        &gatehouse,
        "/api/v1/admin/exceptions",
        exception(json!(["deny-list"]), "1h"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created_by"], "tests");
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.0.0").await, "warn");
    let id = created["id"].as_str().expect("id");
    let deleted = gatehouse
        .admin(Method::DELETE, &format!("/api/v1/admin/exceptions/{id}"))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.0.0").await, "block");

    // A short one applies, then expires by itself.
    let (status, short) = post(
        &gatehouse,
        "/api/v1/admin/exceptions",
        exception(json!(["*"]), "4s"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{short}");
    let expired = eventually(Duration::from_secs(30), || async {
        gatehouse.decide("npm", "left-pad", "1.0.0").await == "block"
    })
    .await;
    assert!(expired.is_some(), "the exception did not expire");
    let listed = gatehouse.admin_json("/api/v1/admin/exceptions").await;
    let short_id = short["id"].as_str().expect("id");
    let entry = listed["exceptions"]
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["id"] == short_id)
        .expect("still listed");
    assert_eq!(entry["expired"], true);

    // Bad input is refused with the reason, and nothing is added.
    for (body, words) in [
        (
            json!({"ecosystem": "npm", "package": "x", "rules": ["*"], "reason": "", "expires_in": "1h"}),
            "reason",
        ),
        (
            json!({"ecosystem": "npm", "package": "x", "rules": ["*"], "reason": "r", "expires": "2001-01-01T00:00:00Z"}),
            "past",
        ),
        (
            json!({"ecosystem": "npm", "package": "x", "rules": ["*"], "reason": "r"}),
            "expires",
        ),
        (
            json!({"ecosystem": "npm", "package": "x", "versions": ">>1", "rules": ["*"], "reason": "r", "expires_in": "1h"}),
            "range",
        ),
    ] {
        let (status, answer) = post(&gatehouse, "/api/v1/admin/exceptions", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(words),
            "{answer}"
        );
    }
    let listed = gatehouse.admin_json("/api/v1/admin/exceptions").await;
    assert_eq!(listed["exceptions"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn an_exception_with_a_past_expiry_does_not_allow() {
    let gatehouse = Gatehouse::start_prepared(
        Setup {
            policies: vec!["deny-list"],
            gate_policy: "policies:\n  default:\n    deny-list:\n      packages: [\"left-pad\"]\n"
                .into(),
            ..Setup::default()
        },
        |dir| {
            let file = json!({"exceptions": [{
                "id": "ex-old",
                "ecosystem": "npm",
                "package": "left-pad",
                "rules": ["*"],
                "reason": "was fine last year",
                "expires": "2001-01-01T00:00:00Z",
                "created": "2000-12-01T00:00:00Z",
                "created_by": "ops",
            }]});
            std::fs::write(dir.join("exceptions.json"), file.to_string()).expect("write");
        },
    );
    assert_eq!(gatehouse.decide("npm", "left-pad", "1.0.0").await, "block");
    let listed = gatehouse.admin_json("/api/v1/admin/exceptions").await;
    assert_eq!(listed["exceptions"][0]["expired"], true, "{listed}");
}

#[tokio::test]
async fn reviews_feed_the_review_policy() {
    let gatehouse = gatehouse(true, "");
    assert_eq!(gatehouse.decide("npm", "right-pad", "2.0.0").await, "block");

    let review = |version: Option<&str>, score: f64| json!({"ecosystem": "npm", "package": "right-pad", "version": version, "score": score, "comment": "read it"});
    let (status, low) = post(&gatehouse, "/api/v1/admin/reviews", review(None, 2.0)).await;
    assert_eq!(status, StatusCode::CREATED, "{low}");
    assert_eq!(low["reviewer"], "tests");
    assert_eq!(gatehouse.decide("npm", "right-pad", "2.0.0").await, "block");

    let (status, _) = post(
        &gatehouse,
        "/api/v1/admin/reviews",
        review(Some("2.0.0"), 4.5),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(gatehouse.decide("npm", "right-pad", "2.0.0").await, "allow");
    // The package-wide score still governs other versions.
    assert_eq!(gatehouse.decide("npm", "right-pad", "1.0.0").await, "block");

    let (status, answer) = post(&gatehouse, "/api/v1/admin/reviews", review(None, 7.0)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let listed = gatehouse
        .admin_json("/api/v1/admin/reviews?ecosystem=npm&package=right-pad")
        .await;
    assert_eq!(listed["reviews"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn clients_authenticate_when_required_and_are_named_in_the_audit() {
    let token = "alice-secret-token";
    let gatehouse = gatehouse(
        false,
        &format!(
            "clients:\n  required: true\n  tokens:\n    - name: alice\n      sha256: {}\n",
            gatehouse::auth::hash_token(token)
        ),
    );
    let url = format!(
        "{}/api/v1/decide?ecosystem=npm&name=left-pad&version=1.0.0",
        gatehouse.url
    );
    let client = Gatehouse::client();
    let anonymous = client.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Basic realm=\"gatehouse\""
    );
    let adapter = client
        .get(format!("{}/npm/left-pad", gatehouse.url))
        .send()
        .await
        .expect("request");
    assert_eq!(adapter.status(), StatusCode::UNAUTHORIZED);

    for request in [
        client.get(&url).bearer_auth(token),
        client.get(&url).basic_auth("alice", Some(token)),
        client.get(&url).header("authorization", token),
    ] {
        let answer: Value = request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(answer["action"], "block", "{answer}");
    }
    let mine = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?user=alice&event=check")
        .await;
    let records = mine["records"].as_array().expect("records");
    assert_eq!(records.len(), 3, "{mine}");
    assert_eq!(records[0]["requester"], "alice@127.0.0.1");
    let refused = gatehouse
        .admin_json("/api/v1/admin/proxy/audit?event=auth-failure")
        .await;
    assert_eq!(refused["records"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let gatehouse = gatehouse(false, "");
    gatehouse.decide("npm", "left-pad", "1.0.0").await;
    gatehouse.decide("npm", "left-pad", "1.1.0").await;
    let text = Gatehouse::client()
        .get(format!("{}/metrics", gatehouse.url))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(
        value(
            "gatehouse_decisions_total",
            &[("action", "block"), ("policy", "deny-list")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value("gatehouse_decisions_total", &[("action", "allow")]),
        1.0
    );
    assert_eq!(
        value(
            "gatehouse_requests_total",
            &[("route", "api"), ("status", "200")]
        ),
        2.0,
        "{text}"
    );
    assert!(
        value("gatehouse_component_generation", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("gatehouse_guest_call_seconds")
                && s.labels.get("component") == Some("deny-list")),
        "{text}"
    );
}
