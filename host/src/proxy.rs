//! The adapter pipeline: a request under `/{adapter}/` goes to the adapter
//! component, and its outcome becomes a response: a response it built (the
//! host owning the framing), or an artifact plan the host executes natively
//! (the last-stop gate, then fetch, verify, cache and serve). Outcomes are
//! memoised while what they were built from holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, VARY};
use hyper::{Method, Request, Response};
use url::Url;

use crate::adapter_route::{AdapterRoute, call_adapter};
use crate::artifact::{ArtifactStore, Expected, Ready};
use crate::bindings::adapter::{ArtifactPlan, ErrorFormat, Outcome};
use crate::bindings::{Action, Purpose};
use crate::capabilities::Capabilities;
use crate::capabilities::audit::AuditRecord;
use crate::contents::{Check, ContentsMemo};
use crate::http::{Body, HttpError, blocked, full, oci_denied, read_body};
use crate::memo::{Built, GateAnswer, GateMemo, Memo, Remembered};
use crate::runtime::guest::GuestFailure;
use crate::runtime::{Generation, LoadedAdapter, Runtime};
use crate::sbom_store::SbomStore;

/// The request header that tells adapters the authenticated client user
/// (present only when client authentication is on).
pub const USER_HEADER: &str = "x-gatehouse-user";

/// The largest request body accepted, before and after decoding (npm audit posts
/// are the biggest).
const MAX_REQUEST_BODY: usize = 16 << 20;

/// The adapter routes and what serving them keeps.
pub struct Proxy {
    pub routes: BTreeMap<String, AdapterRoute>,
    pub artifacts: ArtifactStore,
    /// Where clients reach gatehouse (`public_url`); without it, the
    /// request's `Host` says.
    pub public_url: Option<Url>,
    /// Whether a fronting proxy's `X-Forwarded-Proto` and `-Host` are believed.
    pub trust_forwarded: bool,
    /// Adapter outcomes reused while what they were built from holds.
    pub memo: Memo,
    /// Last-stop gate answers for artifacts, reused briefly.
    pub gate_memo: GateMemo,
    /// What verified artifacts' own manifests say, by store key.
    pub contents: ContentsMemo,
    /// Artifact SBOMs.
    pub sboms: Arc<SbomStore>,
}

impl Proxy {
    /// Answers a request for the `prefix` route, `path` being the rest of
    /// its path; `user` is the authenticated client user, if any. Routes
    /// of the OCI adapter are served under `/v2/` alone (the OCI front).
    pub async fn handle(
        &self,
        runtime: &Runtime,
        prefix: &str,
        path: &str,
        request: Request<Incoming>,
        requester: Option<String>,
        user: Option<String>,
    ) -> Response<Body> {
        if self
            .routes
            .get(prefix)
            .is_some_and(AdapterRoute::serves_oci)
        {
            return HttpError::NotFound(format!(
                "{prefix} is an OCI upstream: pull its images as HOST/{prefix}/REPOSITORY:TAG (served under /v2/{prefix}/)"
            ))
            .into_response();
        }
        HttpError::respond(
            self.answer(runtime, prefix, prefix, path, request, requester, user)
                .await,
        )
    }

    /// Answers a request for route `name`, mounted at `/{mount}/`.
    #[allow(clippy::too_many_arguments)]
    pub async fn answer(
        &self,
        runtime: &Runtime,
        name: &str,
        mount: &str,
        path: &str,
        request: Request<Incoming>,
        requester: Option<String>,
        user: Option<String>,
    ) -> Result<Response<Body>, HttpError> {
        let generation = runtime.current();
        let caps = &runtime.caps;
        let Some(route) = self.routes.get(name) else {
            return Err(match generation.adapters.contains_key(name) {
                true => HttpError::NoUpstream(format!(
                    "no upstream is configured for the {name} adapter; set upstreams.{name}.url in gatehouse.yaml or pass --upstream {name}=URL"
                )),
                false => HttpError::NotFound(format!("no adapter serves /{mount}/")),
            });
        };
        let Some(adapter) = generation.adapters.get(&route.adapter).cloned() else {
            return Err(HttpError::NotFound(format!(
                "no adapter serves /{mount}/: the {} adapter is not loaded",
                route.adapter
            )));
        };
        // Messages name the adapter; the memo keeps routes apart.
        let prefix = route.adapter.as_str();
        let head = request.method() == Method::HEAD;
        let public_base = self.public_base(&request, mount);
        let method = request.method().as_str().to_owned();
        let query = request.uri().query().map(str::to_owned);
        // Client credentials are gatehouse's business, never a component's; the
        // adapter learns only the authenticated user, in a header no client can set.
        let mut headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter(|(n, _)| {
                *n != hyper::header::AUTHORIZATION
                    && *n != hyper::header::COOKIE
                    && !n.as_str().starts_with("x-gatehouse-")
            })
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        if let Some(user) = user {
            headers.push((USER_HEADER.to_owned(), user));
        }
        let body = read_body(
            request,
            MAX_REQUEST_BODY,
            caps.bounds.request_body_timeout(),
        )
        .await?;
        let body = decoded_body(&mut headers, body)
            .await
            .map_err(HttpError::BadRequest)?;
        // HEAD is answered like GET (without the body), so they share entries.
        let memo_key = matches!(method.as_str(), "GET" | "HEAD").then(|| {
            format!(
                "{name}\n{}\n{}\n{}\n{path}\n{}\n{public_base}",
                adapter.sha256,
                generation.id,
                caps.decision_epoch(),
                query.as_deref().unwrap_or("")
            )
        });
        let gzip = accepts_gzip(&headers);
        if let Some(key) = &memo_key
            && let Some(hit) = self.memo.get(key, &headers, route.upstream.shared())
        {
            return match hit {
                Remembered::Respond(built) => built_response(built, head, gzip, prefix),
                Remembered::Artifact(plan) => {
                    let artifact = Artifact {
                        route,
                        adapter: &adapter,
                        generation: &generation,
                        requester,
                        head,
                        memo_key: Some(key),
                    };
                    self.serve_artifact(caps, artifact, *plan).await
                }
            };
        }
        let request_headers = memo_key
            .as_ref()
            .map(|_| headers.clone())
            .unwrap_or_default();
        let wit_request = crate::bindings::adapter::Request {
            method,
            path: path.to_owned(),
            query,
            headers,
            body,
            public_base,
        };
        let (outcome, trace) = call_adapter(
            crate::gate::PolicyBatch::handle(&generation, caps),
            caps,
            &adapter,
            route,
            requester.clone(),
            &wit_request,
        )
        .await;
        let response_cap = caps.bounds.response_mb << 20;
        match outcome {
            Ok(Outcome::Respond(built)) if built.body.len() > response_cap => {
                tracing::error!(
                    adapter = prefix,
                    bytes = built.body.len(),
                    "adapter response past limits.response_mb"
                );
                Err(HttpError::Adapter(format!(
                    "the {prefix} adapter built a {} MiB response; at most {} MiB are served (limits.response_mb)",
                    built.body.len() >> 20,
                    response_cap >> 20
                )))
            }
            Ok(Outcome::Respond(built)) => {
                let built = Built::new(built.status, built.headers, Bytes::from(built.body));
                let kept = memo_key.is_some_and(|key| {
                    self.memo.put(
                        key,
                        &request_headers,
                        Remembered::Respond(built.clone()),
                        trace,
                    )
                });
                // Compressing a response nobody will be served again is wasted work.
                built_response(built, head, gzip && kept, prefix)
            }
            Ok(Outcome::Artifact(plan)) => {
                if let Some(key) = &memo_key {
                    self.memo.put(
                        key.clone(),
                        &request_headers,
                        Remembered::Artifact(Box::new(plan.clone())),
                        trace,
                    );
                }
                let artifact = Artifact {
                    route,
                    adapter: &adapter,
                    generation: &generation,
                    requester,
                    head,
                    memo_key: memo_key.as_deref(),
                };
                self.serve_artifact(caps, artifact, plan).await
            }
            Err(failure) => {
                let failure = GuestFailure::classify(&failure);
                generation
                    .failures
                    .record(crate::runtime::Kind::Adapter, &adapter.name, &failure);
                let failure =
                    crate::bounds::cut_str(&failure.to_string(), caps.bounds.reason_bytes);
                tracing::error!(adapter = prefix, %failure, "adapter failed");
                Err(HttpError::Adapter(format!(
                    "the {prefix} adapter failed ({failure}); nothing was served"
                )))
            }
        }
    }

    /// Where clients reach adapter `prefix`, without a trailing slash.
    fn public_base(&self, request: &Request<Incoming>, prefix: &str) -> String {
        if let Some(url) = &self.public_url {
            return format!("{}/{prefix}", url.as_str().trim_end_matches('/'));
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
        };
        let (scheme, host) = if self.trust_forwarded {
            // Only a scheme clients can use; anything else would be written into
            // every URL this adapter hands out.
            let scheme = header("x-forwarded-proto")
                .map(|proto| proto.to_ascii_lowercase())
                .filter(|proto| proto == "https")
                .unwrap_or_else(|| "http".into());
            (
                scheme,
                header("x-forwarded-host").or_else(|| header(HOST.as_str())),
            )
        } else {
            ("http".into(), header(HOST.as_str()))
        };
        let host = host
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or_else(|| "localhost".into());
        format!("{scheme}://{host}/{prefix}")
    }

    /// The last-stop gate, then fetch-verify-cache, then the artifact check
    /// (its own manifest against the plan's facts), then the bytes.
    async fn serve_artifact(
        &self,
        caps: &Arc<Capabilities>,
        artifact: Artifact<'_>,
        plan: ArtifactPlan,
    ) -> Result<Response<Body>, HttpError> {
        let Artifact {
            route,
            adapter,
            generation,
            requester,
            head,
            memo_key,
        } = artifact;
        let facts = &plan.facts;
        let record = |event: &str, reason: String| AuditRecord {
            event: event.into(),
            requester: requester.clone(),
            ecosystem: facts.ecosystem.clone(),
            package: facts.name.clone(),
            version: facts.version.clone(),
            reason,
            ..AuditRecord::default()
        };
        let gate_key = memo_key.map(|key| format!("{key}\n{}", requester.as_deref().unwrap_or("")));
        // The artifact check's answer is remembered the same way: a warm
        // artifact whose manifest differs is not judged again per request.
        let check_key = gate_key
            .as_ref()
            .map(|key| format!("{key}\nartifact-check"));
        let remembered = gate_key.as_deref().and_then(|key| self.gate_memo.get(key));
        let answer = match remembered {
            Some(answer) => {
                // The decision was audited when it was made; a block is audited
                // again because a client is refused now.
                if let GateAnswer::Block { rules, message } = &answer {
                    caps.audit.append(&AuditRecord {
                        event: "artifact".into(),
                        requester: requester.clone(),
                        ecosystem: facts.ecosystem.clone(),
                        package: facts.name.clone(),
                        version: facts.version.clone(),
                        action: "block".into(),
                        rule: rules.clone(),
                        reason: message.clone(),
                        ..AuditRecord::default()
                    });
                }
                answer
            }
            None => {
                let decision = generation
                    .gate(
                        caps,
                        Purpose::Artifact,
                        std::slice::from_ref(facts),
                        requester.as_deref(),
                    )
                    .await
                    .pop();
                let answer = match decision.filter(|d| d.action == Action::Block) {
                    None => GateAnswer::Allow,
                    Some(decision) => {
                        let blocking = || {
                            decision
                                .verdicts
                                .iter()
                                .filter(|v| v.action == Action::Block)
                        };
                        GateAnswer::Block {
                            rules: blocking()
                                .map(|v| v.rule.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            message: blocking()
                                .map(|v| format!("{}: {}", v.rule, v.reason))
                                .collect::<Vec<_>>()
                                .join("; "),
                        }
                    }
                };
                if let Some(key) = gate_key {
                    self.gate_memo.put(key, answer.clone());
                }
                answer
            }
        };
        if let GateAnswer::Block { message, .. } = answer {
            return Ok(refused(route, plan.error_format, &message));
        }
        let obtained = match Expected::from_declared(&plan.digests) {
            Ok(expected) => self
                .artifacts
                .obtain(&route.upstream, &plan.url, &expected)
                .await
                .map(|ready| (expected.key(), ready)),
            Err(e) => Err(e),
        };
        let (key, ready) = match obtained {
            Ok(obtained) => obtained,
            Err(failure) => {
                caps.audit
                    .append(&record("artifact-refused", failure.to_string()));
                tracing::warn!(package = %facts.name, version = %facts.version, %failure, "artifact refused");
                return Err(HttpError::Artifact {
                    package: format!("{}@{}", facts.name, facts.version),
                    error: failure,
                });
            }
        };
        let check = Check {
            caps,
            route,
            adapter,
            generation,
            registry: facts,
            verified: &plan.digests,
            file_name: file_name(&plan.url),
            requester: requester.as_deref(),
        };
        let refusal = match check_key.as_deref().and_then(|k| self.gate_memo.get(k)) {
            Some(GateAnswer::Allow) => None,
            Some(GateAnswer::Block { rules, message }) => {
                // Audited when it was decided; audited again: a client is refused now.
                caps.audit.append(&AuditRecord {
                    action: "block".into(),
                    rule: rules.clone(),
                    ..record("artifact", message.clone())
                });
                Some((rules, message))
            }
            None => {
                let refusal = check
                    .refusal(&self.contents, &self.sboms, &key, &ready)
                    .await;
                if let Some(check_key) = check_key {
                    let answer = match &refusal {
                        None => GateAnswer::Allow,
                        Some((rules, message)) => GateAnswer::Block {
                            rules: rules.clone(),
                            message: message.clone(),
                        },
                    };
                    self.gate_memo.put(check_key, answer);
                }
                refusal
            }
        };
        if let Some((_, message)) = refusal {
            return Ok(refused(route, plan.error_format, &message));
        }
        caps.audit.append(&record("serve", plan.url.clone()));
        let len = ready.size();
        let body = match ready {
            _ if head => full(Bytes::new()),
            Ready::Memory(bytes) => full(bytes),
            Ready::File { file, .. } => {
                let stream = tokio_util::io::ReaderStream::with_capacity(
                    tokio::fs::File::from_std(file),
                    256 << 10,
                );
                BodyExt::boxed(StreamBody::new(futures_map(stream)))
            }
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        if let Ok(value) = plan.content_type.parse() {
            headers.insert(CONTENT_TYPE, value);
        }
        headers.insert(CONTENT_LENGTH, len.into());
        // Blobs are named by their digest, which OCI clients are told again.
        if route.serves_oci()
            && let Some(sha256) = plan.digests.iter().find(|d| d.algorithm == "sha256")
            && let Ok(value) = format!("sha256:{}", sha256.hex).parse()
        {
            headers.insert("docker-content-digest", value);
        }
        Ok(response)
    }
}

/// One artifact request: where it came in, and for whom.
struct Artifact<'a> {
    route: &'a AdapterRoute,
    adapter: &'a LoadedAdapter,
    generation: &'a Arc<Generation>,
    requester: Option<String>,
    head: bool,
    memo_key: Option<&'a str>,
}

/// A refused artifact in its clients' format: the plan's, or the
/// distribution spec's error document on an OCI route.
fn refused(route: &AdapterRoute, format: ErrorFormat, message: &str) -> Response<Body> {
    if route.serves_oci() {
        oci_denied(message)
    } else {
        blocked(format, message)
    }
}

/// The last path segment of `url`: the artifact's file name upstream.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default()
}

/// Response headers the host alone sets: framing and hop-by-hop headers an
/// adapter could use to split a response or hijack the connection.
const HOST_OWNED_HEADERS: [&str; 7] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
];

/// A response the adapter built, gzipped when the client takes it and the
/// compressed variant is ready. The host owns the framing: the adapter's
/// framing and hop-by-hop headers are dropped, and a status no final
/// response may have (1xx, or beyond 599) becomes a 502 naming `adapter`.
fn built_response(
    built: Built,
    head: bool,
    accepts_gzip: bool,
    adapter: &str,
) -> Result<Response<Body>, HttpError> {
    let status = built.status.as_u16();
    if !(200..=599).contains(&status) {
        tracing::error!(adapter, status, "adapter answered an invalid status");
        return Err(HttpError::Adapter(format!(
            "the {adapter} adapter answered with status {status}, which no response may have; nothing was served"
        )));
    }
    let compressible = built.compressible();
    let gzipped = (compressible && accepts_gzip)
        .then(|| built.gzipped())
        .flatten();
    let mut headers = built.headers;
    let owned: Vec<_> = headers
        .keys()
        .filter(|name| {
            HOST_OWNED_HEADERS.contains(&name.as_str()) || name.as_str().starts_with("proxy-")
        })
        .cloned()
        .collect();
    for name in owned {
        headers.remove(name);
    }
    if compressible {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
    let body = match gzipped {
        Some(gzipped) => {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            gzipped
        }
        None => built.body,
    };
    // 204 and 304 have no body; every other length is the body's own.
    let bodiless = matches!(status, 204 | 304);
    if !bodiless {
        headers.insert(CONTENT_LENGTH, body.len().into());
    }
    let mut response = Response::new(if head || bodiless {
        full(Bytes::new())
    } else {
        full(body)
    });
    *response.status_mut() = built.status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Whether the request's `Accept-Encoding` takes gzip.
fn accepts_gzip(headers: &[(String, String)]) -> bool {
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("accept-encoding"))
        .flat_map(|(_, value)| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn futures_map(
    stream: tokio_util::io::ReaderStream<tokio::fs::File>,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, std::io::Error>> {
    use tokio_stream::StreamExt as _;
    stream.map(|chunk| chunk.map(Frame::data))
}

/// The request body as adapters see it: a gzip `Content-Encoding` (npm audit
/// sends one) is decoded off the async threads, capped like a plain body so
/// that a small bomb cannot grow past the limit, and the encoding and length
/// headers, which no longer describe it, are dropped.
async fn decoded_body(headers: &mut Vec<(String, String)>, body: Bytes) -> Result<Vec<u8>, String> {
    let Some(at) = headers.iter().position(|(n, _)| n == "content-encoding") else {
        return Ok(body.to_vec());
    };
    let encoding = headers[at].1.trim().to_ascii_lowercase();
    headers.retain(|(n, _)| n != "content-encoding" && n != "content-length");
    match encoding.as_str() {
        _ if body.is_empty() => Ok(Vec::new()),
        "identity" => Ok(body.to_vec()),
        "gzip" | "x-gzip" => tokio::task::spawn_blocking(move || gunzip_limited(&body))
            .await
            .map_err(|e| format!("decoding the request body: {e}"))?,
        other => Err(format!(
            "request bodies encoded as `{other}` are not accepted"
        )),
    }
}

fn gunzip_limited(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            flate2::read::MultiGzDecoder::new(body),
            MAX_REQUEST_BODY as u64 + 1,
        ),
        &mut decoded,
    )
    .map_err(|e| format!("the gzip request body does not decode: {e}"))?;
    if decoded.len() > MAX_REQUEST_BODY {
        return Err(format!(
            "the request body decodes to more than {} MiB",
            MAX_REQUEST_BODY >> 20
        ));
    }
    Ok(decoded)
}
