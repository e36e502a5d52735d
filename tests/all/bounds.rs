//! Bounded work: one deadline per guest call that holds across host calls,
//! caps on what guests and unauthenticated clients make the host write,
//! connection timeouts and descriptor exhaustion, and fail-closed for a
//! configured policy whose component is missing. The hostile components are
//! the suite's own `misbehave` policy and `misbehave-adapter`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_http::{Listener, Reply};
use crate::fake_npm::{FakeNpm, FakePackage, FakeVersion};
use crate::support::{Gatehouse, Setup, component, eventually, replace_file};

/// How far past its deadline a call may end on a busy two-core machine. The
/// deadline holds to an epoch tick; this is slack for scheduling, not a goal
/// (before the deadline counted host calls, such loops ran for tens of seconds).
const OVERSHOOT: Duration = Duration::from_secs(4);

/// The deadline the hostile components get.
const DEADLINE: Duration = Duration::from_millis(1000);

/// A gatehouse whose log goes to `server.log` in its layout.
fn logged(setup: Setup) -> Gatehouse {
    Gatehouse::start_custom(
        setup,
        |_| {},
        |dir, command| {
            let log = std::fs::File::create(dir.join("server.log")).expect("log file");
            command.stderr(log);
        },
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `GET path`: status, body and how long it took.
async fn timed_get(gatehouse: &Gatehouse, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let response = Gatehouse::client()
        .get(format!("{}{path}", gatehouse.url))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    (status, body, started.elapsed())
}

/// The first verdict's reason of a decide answer.
fn first_reason(answer: &Value) -> String {
    answer["verdicts"][0]["reason"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The misbehave policy: for npm the package's name picks the behaviour
/// (looping on one host capability or filling the store); PyPI asks
/// `osv.affecting` about a million versions.
const HOSTILE_POLICY: &str = "policies:
  default:
    misbehave: {behavior: allow}
  npm:
    misbehave: {behavior: by-name, timeout_ms: 1000}
  pypi:
    misbehave: {behavior: osv-million, timeout_ms: 10000}
";

/// The hostile policy and adapter behind one server; the adapter's deadline
/// is [`DEADLINE`], its upstream a fake that answers `/data`.
fn hostile_gatehouse(upstream: &str) -> Gatehouse {
    logged(Setup {
        policies: vec!["misbehave"],
        adapters: vec!["misbehave-adapter"],
        gate_policy: HOSTILE_POLICY.into(),
        upstreams: vec![("misbehave-adapter".into(), upstream.into())],
        // Continues the upstream's block, then the limits.
        extra_config: "    timeout_ms: 1000\nlimits:\n  store_bytes_per_component: 1048576\n  response_mb: 2\n  gate_records_per_call: 50\n".into(),
    })
}

/// An adapter calling `gate.evaluate` in a loop writes at most
/// `limits.gate_records_per_call` audit records, then one that counts the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_records_of_one_adapter_call_are_capped() {
    let upstream = Listener::bind().serve(|_| Reply::ok("text/plain", b"data".to_vec()));
    let gatehouse = hostile_gatehouse(&format!("http://{}", upstream.addr()));
    let (status, body, _) = timed_get(&gatehouse, "/misbehave-adapter/gate-loop").await;
    assert_eq!(status, 502, "{body}");
    let audit = std::fs::read_to_string(gatehouse.path("audit.log")).expect("audit");
    let looped = audit.lines().filter(|l| l.contains("looped")).count();
    assert!(
        (1..=50).contains(&looped),
        "{looped} gate records of one call"
    );
    assert!(
        audit.contains("more gate records of one call were not recorded"),
        "the audit says what it left out"
    );
}

/// Loops over each host capability (osv, store, log, audit from a policy;
/// gate and upstream from an adapter) end at the deadline; the log and
/// audit floods stay under their caps; the store refuses past its byte cap;
/// an adapter's oversized response is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_capability_loops_end_at_the_deadline() {
    let upstream = Listener::bind().serve(|_| Reply::ok("text/plain", b"data".to_vec()));
    let gatehouse = hostile_gatehouse(&format!("http://{}", upstream.addr()));
    let audit = gatehouse.path("audit.log");
    let log = gatehouse.path("server.log");

    for behavior in ["osv-loop", "store-loop", "log-loop", "note-loop"] {
        let (log_before, audit_before) = (file_len(&log), file_len(&audit));
        let started = Instant::now();
        let answer = gatehouse
            .get_json(&format!(
                "/api/v1/decide?ecosystem=npm&name={behavior}&version=1.0.0"
            ))
            .await;
        let took = started.elapsed();
        let (logged, audited) = (file_len(&log) - log_before, file_len(&audit) - audit_before);
        println!("{behavior}: {took:?}, log +{logged} B, audit +{audited} B");
        assert_eq!(answer["action"], "block", "{behavior}: {answer}");
        assert!(
            first_reason(&answer).contains("deadline exceeded"),
            "{behavior}: {answer}"
        );
        assert!(took < DEADLINE + OVERSHOOT, "{behavior} took {took:?}");
        assert!(logged < 256 << 10, "{behavior}: the log grew {logged} B");
        assert!(
            audited < 256 << 10,
            "{behavior}: the audit grew {audited} B"
        );
    }
    let log_text = std::fs::read_to_string(&log).expect("server log");
    assert!(
        log_text.contains("suppressed"),
        "the log says what it left out"
    );
    let audit_text = std::fs::read_to_string(&audit).expect("audit");
    assert!(
        audit_text.contains("more notes of one call were not recorded"),
        "the audit says what it left out"
    );

    for path in ["gate-loop", "fetch-loop"] {
        let (status, body, took) =
            timed_get(&gatehouse, &format!("/misbehave-adapter/{path}")).await;
        println!("{path}: {status} in {took:?}: {body}");
        assert_eq!(status, 502, "{path}: {body}");
        assert!(body.contains("deadline exceeded"), "{path}: {body}");
        assert!(took < DEADLINE + OVERSHOOT, "{path} took {took:?}");
    }
    assert!(
        upstream.hits("/data") >= 1,
        "the fetch loop reached the upstream"
    );

    let answer = gatehouse
        .get_json("/api/v1/decide?ecosystem=npm&name=store-fill&version=1.0.0")
        .await;
    let reason = first_reason(&answer);
    assert!(
        reason.contains("store full") && reason.contains("limits.store_bytes_per_component"),
        "{answer}"
    );

    let (status, body, _) = timed_get(&gatehouse, "/misbehave-adapter/big-response?3").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("limits.response_mb"), "{body}");
}

/// Two `osv.affecting` calls with 1,000,000 versions each are refused in
/// time with a clear error, and `/healthz` answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_version_osv_call_is_refused_and_healthz_answers() {
    let upstream = Listener::bind().serve(|_| Reply::not_found());
    let gatehouse = hostile_gatehouse(&format!("http://{}", upstream.addr()));
    let url = gatehouse.url.clone();
    let probe = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let (mut answered, mut slowest) = (0, Duration::ZERO);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            let asked = Instant::now();
            let response = client.get(format!("{url}/healthz")).send().await;
            assert!(
                response.is_ok_and(|r| r.status().is_success()),
                "/healthz did not answer within 5 s"
            );
            answered += 1;
            slowest = slowest.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (answered, slowest)
    });
    let decide = || gatehouse.get_json("/api/v1/decide?ecosystem=pypi&name=a&version=1.0.0");
    let started = Instant::now();
    let (first, second) = tokio::join!(decide(), decide());
    let took = started.elapsed();
    let (answered, slowest) = probe.await.expect("probe");
    println!(
        "two million-version calls: {took:?}; /healthz answered {answered} times, slowest {slowest:?}"
    );
    for answer in [first, second] {
        assert_eq!(answer["action"], "block", "{answer}");
        assert!(
            first_reason(&answer).contains("limits.osv_versions_per_call"),
            "{answer}"
        );
    }
    assert!(
        took < Duration::from_secs(10) + OVERSHOOT,
        "refused in {took:?}"
    );
}

/// A policy's 5 MB reason is cut in the decide answer, the packument and the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_reason_is_cut_everywhere() {
    let package = (0..20).fold(FakePackage::new("wordy"), |package, i| {
        package.version(FakeVersion::new(&format!("1.0.{i}")))
    });
    let registry = FakeNpm::start(vec![package]);
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["misbehave"],
        adapters: vec!["npm"],
        gate_policy: "policies:\n  default:\n    misbehave: {behavior: huge-reason}\n".into(),
        upstreams: vec![("npm".into(), registry.url())],
        ..Setup::default()
    });

    let answer = gatehouse
        .get_json("/api/v1/decide?ecosystem=npm&name=wordy&version=1.0.0")
        .await;
    let reason = first_reason(&answer);
    assert_eq!(answer["action"], "block");
    assert!(
        reason.len() <= 1024 && reason.ends_with('…'),
        "{} bytes",
        reason.len()
    );

    let (status, packument, _) = timed_get(&gatehouse, "/npm/wordy").await;
    println!("packument: {status}, {} bytes", packument.len());
    assert_eq!(status, 200);
    assert!(packument.len() < 256 << 10, "{} bytes", packument.len());
    assert!(packument.contains('…'), "the reasons are in it, cut");

    let audit = std::fs::read_to_string(gatehouse.path("audit.log")).expect("audit");
    let longest = audit.lines().map(str::len).max().unwrap_or(0);
    println!("audit: {} bytes, longest line {longest}", audit.len());
    assert!(audit.len() < 1 << 20, "{} bytes of audit", audit.len());
    assert!(longest < 8 << 10, "an audit line of {longest} bytes");
}

const CLIENT_TOKEN: &str = "bounds-client-token";

/// 300 unauthenticated requests with 60 KB paths and a 50,000-query decide
/// grow the audit by less than 1 MiB; decide takes at most
/// `limits.decide_queries` queries and names of `limits.name_bytes`, and a
/// large batch is audited as one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_floods_barely_grow_the_audit() {
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        gate_policy: "policies:\n  default:\n    deny-list: {packages: [left-pad]}\n".into(),
        extra_config: format!(
            "clients:\n  required: true\n  tokens:\n    - name: ci\n      sha256: {}\n",
            gatehouse::auth::hash_token(CLIENT_TOKEN)
        ),
        ..Setup::default()
    });
    let audit = gatehouse.path("audit.log");
    let before = file_len(&audit);
    let client = Gatehouse::client();
    let long = "a".repeat(60_000);
    for _ in 0..300 {
        let response = client
            .get(format!("{}/npm/{long}", gatehouse.url))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401);
    }
    let queries: Vec<Value> = (0..50_000)
        .map(|i| json!({"ecosystem": "npm", "name": format!("pkg-{i}"), "version": "1.0.0"}))
        .collect();
    let decide = format!("{}/api/v1/decide", gatehouse.url);
    // The 401 is answered without reading the 4 MB body, so the client may
    // see the connection closed while it is still writing: a refusal too.
    match client.post(&decide).json(&queries).send().await {
        Ok(refused) => assert_eq!(refused.status(), 401, "decide needs a client token"),
        Err(e) => assert!(cut_off_while_sending(&e), "decide without a token: {e:?}"),
    }
    let unauthenticated = file_len(&audit) - before;

    let too_many = client
        .post(&decide)
        .bearer_auth(CLIENT_TOKEN)
        .json(&queries)
        .send()
        .await
        .expect("decide");
    assert_eq!(too_many.status(), 400);
    assert!(
        too_many
            .text()
            .await
            .expect("body")
            .contains("limits.decide_queries")
    );
    let too_long = client
        .get(format!("{decide}?ecosystem=npm&name={long}&version=1.0.0"))
        .bearer_auth(CLIENT_TOKEN)
        .send()
        .await
        .expect("decide");
    assert_eq!(too_long.status(), 400);

    let lines_before = std::fs::read_to_string(&audit)
        .expect("audit")
        .lines()
        .count();
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"ecosystem": "npm", "name": "left-pad", "version": "1.3.0"}))
        .collect();
    let answered = client
        .post(&decide)
        .bearer_auth(CLIENT_TOKEN)
        .json(&batch)
        .send()
        .await
        .expect("decide");
    assert_eq!(answered.status(), 200);
    let answers: Vec<Value> = answered.json().await.expect("json");
    assert_eq!(answers.len(), 1000);
    assert!(answers.iter().all(|a| a["action"] == "block"));
    let text = std::fs::read_to_string(&audit).expect("audit");
    let new_lines: Vec<&str> = text.lines().skip(lines_before).collect();
    assert_eq!(
        new_lines.len(),
        1,
        "one record for the batch: {new_lines:?}"
    );
    assert!(new_lines[0].contains("1000 blocked"), "{}", new_lines[0]);

    let grown = file_len(&audit) - before;
    println!("audit: +{unauthenticated} B from unauthenticated traffic, +{grown} B in all");
    assert!(grown < 1 << 20, "the audit grew {grown} B");
    let failures = text.matches("\"auth-failure\"").count();
    assert!(failures <= 12, "{failures} auth-failure records");
}

/// Whether `error` is the server closing the connection while the request
/// body was still being sent (a broken pipe or a reset), nothing else.
fn cut_off_while_sending(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            );
        }
        source = e.source();
    }
    false
}

/// A raw connection to `gatehouse`, with reads timing out after `limit`.
fn connect(gatehouse: &Gatehouse, limit: Duration) -> TcpStream {
    let address = gatehouse.url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("timeout");
    stream
}

/// How long until the server closes `stream` (reading and discarding what it
/// sends), or `None` when it is still open after the read timeout.
fn closed_after(stream: &mut TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// Whether `GET /healthz` on a fresh connection is answered 200 within `limit`.
fn healthz_answers(gatehouse: &Gatehouse, limit: Duration) -> bool {
    let address = gatehouse.url.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect_timeout(&address.parse().expect("address"), limit)
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(limit));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// A client that sends half a request, and one that stays idle after a
/// request, are disconnected by the header-read timeout; past
/// `max_connections`, a new client waits until a connection frees up.
#[test]
fn slowloris_and_idle_connections_are_closed() {
    let gatehouse = Gatehouse::start(Setup {
        extra_config: "limits:\n  header_read_timeout_ms: 1000\n  max_connections: 2\n".into(),
        ..Setup::default()
    });
    let limit = Duration::from_secs(15);

    let mut slow = connect(&gatehouse, limit);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .expect("half a request");
    let took = closed_after(&mut slow).expect("the half-sent request is cut off");
    println!("slowloris closed after {took:?}");

    let mut idle = connect(&gatehouse, limit);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("a request");
    let took = closed_after(&mut idle).expect("the idle connection is closed");
    println!("idle keep-alive closed after {took:?}");

    assert!(healthz_answers(&gatehouse, limit), "others are served");

    // Both connections taken by half-sent requests: a third client is
    // accepted only once the timeout frees one (at least 0.8 s from now).
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(&gatehouse, limit);
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\n")
                .expect("half a request");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert!(
        healthz_answers(&gatehouse, limit),
        "served once one frees up"
    );
    let waited = started.elapsed();
    println!("a third client waited {waited:?}");
    assert!(
        waited >= Duration::from_millis(500),
        "the third client should have waited for a free connection ({waited:?})"
    );
    drop(held);
}

/// A client that pipelines requests and never reads the answers is cut off
/// by the write timeout once the socket buffers are full, so it cannot hold
/// its connection slot (here the only one) for ever.
#[test]
fn a_client_that_stops_reading_is_disconnected() {
    let gatehouse = Gatehouse::start(Setup {
        extra_config:
            "limits:\n  write_timeout_ms: 1000\n  header_read_timeout_ms: 120000\n  max_connections: 1\n"
                .into(),
        ..Setup::default()
    });
    let limit = Duration::from_secs(60);
    let mut greedy = connect(&gatehouse, limit);
    greedy
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // Megabytes of answers: more than the loopback socket buffers hold.
    let requests = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(40_000);
    // The server stops reading once its writes stall: the rest may not fit.
    let _ = greedy.write_all(&requests);
    let started = Instant::now();
    assert!(
        healthz_answers(&gatehouse, limit),
        "another client is served once the greedy one is cut off"
    );
    println!("served after {:?}", started.elapsed());
    drop(greedy);
}

/// Server-side descriptors a process holds (Linux).
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// With its descriptor limit lowered below a flood of connections, the
/// server neither spins nor floods its log, and serves new clients again
/// once the flood is gone.
#[test]
fn descriptor_exhaustion_recovers_with_a_small_log() {
    let gatehouse = logged(Setup {
        // Flooding connections stay open: only the descriptor limit stops them.
        extra_config: "limits:\n  header_read_timeout_ms: 120000\n".into(),
        ..Setup::default()
    });
    let pid = gatehouse.pid();
    let limit = open_descriptors(pid) + 20;
    let lowered = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status();
    if !lowered.is_ok_and(|s| s.success()) {
        assert!(std::env::var_os("CI").is_none(), "prlimit is needed");
        eprintln!("skipping: prlimit could not lower the server's descriptor limit");
        return;
    }

    let address = gatehouse
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    // Until the listen backlog is full too (a connect then hangs).
    let flood: Vec<TcpStream> = (0..200)
        .map_while(|_| TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok())
        .collect();
    assert!(flood.len() > limit, "the flood outnumbers the descriptors");
    println!(
        "flood: {} connections against a limit of {limit}",
        flood.len()
    );
    std::thread::sleep(Duration::from_secs(3));
    let cpu_before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let busy = cpu_ticks(pid).saturating_sub(cpu_before);
    drop(flood);

    let started = Instant::now();
    let mut served = false;
    while !served && started.elapsed() < Duration::from_secs(60) {
        served = healthz_answers(&gatehouse, Duration::from_secs(5));
    }
    let log = std::fs::read_to_string(gatehouse.path("server.log")).expect("server log");
    println!(
        "served again after {:?}; {busy} CPU ticks in 2 s of flood; log {} bytes:\n{log}",
        started.elapsed(),
        log.len()
    );
    assert!(served, "new clients are served once the flood is gone");
    assert!(log.len() < 16 << 10, "the log grew to {} bytes", log.len());
    assert!(log.contains("accepting connections failed"), "{log}");
    // 2 s of a spinning thread is 200 ticks; backing off costs next to nothing.
    assert!(busy < 100, "{busy} CPU ticks while descriptors ran out");
}

/// User plus system CPU time of a process, in clock ticks (Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    field(11) + field(12)
}

/// The decide answer for right-pad: its action and first reason.
async fn right_pad(gatehouse: &Gatehouse) -> (String, String) {
    let answer = gatehouse
        .get_json("/api/v1/decide?ecosystem=npm&name=right-pad&version=1.0.0")
        .await;
    (
        answer["action"].as_str().unwrap_or("?").to_owned(),
        first_reason(&answer),
    )
}

/// Removing a configured policy's component (the first half of rm-then-cp)
/// blocks, with a reason naming the policy and the problem, until the
/// component is back or its configuration is removed; so does a configured
/// component that fails to load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_policy_without_its_component_blocks() {
    const DENY: &str = "policies:\n  default:\n    deny-list: {packages: [left-pad]}\n";
    let gatehouse = Gatehouse::start(Setup {
        policies: vec!["deny-list"],
        gate_policy: DENY.into(),
        ..Setup::default()
    });
    let limit = Duration::from_secs(10);
    assert_eq!(right_pad(&gatehouse).await.0, "allow");

    let wasm = std::fs::read(component("deny-list")).expect("built");
    let path = gatehouse.path("policies/deny-list.wasm");
    std::fs::remove_file(&path).expect("rm");
    eventually(limit, || async { right_pad(&gatehouse).await.0 == "block" })
        .await
        .expect("the gap blocks");
    let (_, reason) = right_pad(&gatehouse).await;
    println!("{reason}");
    assert!(
        reason.contains("deny-list") && reason.contains("is missing"),
        "{reason}"
    );
    // A decide batch over every ecosystem records the problem once, not per ecosystem.
    let audit = gatehouse.path("audit.log");
    let errors = || {
        std::fs::read_to_string(&audit)
            .expect("audit")
            .matches("\"policy-error\"")
            .count()
    };
    let before = errors();
    let batch: Vec<Value> = (0..50)
        .map(|i| {
            let ecosystem = ["npm", "pypi", "cargo", "go", "maven"][i % 5];
            json!({"ecosystem": ecosystem, "name": format!("x{i}"), "version": "1.0.0"})
        })
        .collect();
    let answers: Vec<Value> = Gatehouse::client()
        .post(format!("{}/api/v1/decide", gatehouse.url))
        .json(&batch)
        .send()
        .await
        .expect("decide")
        .json()
        .await
        .expect("json");
    assert!(answers.iter().all(|a| a["action"] == "block"));
    assert_eq!(
        errors() - before,
        1,
        "one policy-error record for the request"
    );

    replace_file(&path, &wasm);
    eventually(limit, || async { right_pad(&gatehouse).await.0 == "allow" })
        .await
        .expect("back in service");

    let ghost = "    ghost: {}\n";
    std::fs::write(gatehouse.path("gate-policy.yaml"), format!("{DENY}{ghost}")).expect("config");
    replace_file(&gatehouse.path("policies/ghost.wasm"), b"not a component");
    eventually(limit, || async {
        let (action, reason) = right_pad(&gatehouse).await;
        action == "block" && reason.contains("ghost") && reason.contains("failed to load")
    })
    .await
    .expect("a configured component that fails to load blocks");

    std::fs::write(
        gatehouse.path("gate-policy.yaml"),
        format!("{DENY}    ghost: {{on_error: allow}}\n"),
    )
    .expect("config");
    eventually(limit, || async { right_pad(&gatehouse).await.0 == "warn" })
        .await
        .expect("on_error: allow lets it pass with a warning");

    std::fs::write(gatehouse.path("gate-policy.yaml"), DENY).expect("config");
    eventually(limit, || async { right_pad(&gatehouse).await.0 == "allow" })
        .await
        .expect("removing the configuration retires the policy");
}
