//! The HTTP front: routes `/healthz`, the API, and `/{adapter}/...` to the
//! adapter component, then turns its outcome into a response: a response it
//! built, or an artifact plan the host executes natively.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, VARY};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use url::Url;

use crate::api;
use crate::artifact::{ArtifactStore, Expected, Ready};
use crate::audit::AuditRecord;
use crate::auth::Tokens;
use crate::bindings::Action;
use crate::bindings::Purpose;
use crate::bindings::adapter::{ArtifactPlan, ErrorFormat, Outcome};
use crate::capabilities::{CallScope, Capabilities};
use crate::gate::GuestFailure;
use crate::memo::{Built, GateAnswer, GateMemo, Memo, Remembered, Trace};
use crate::metrics::{RequestLabels, metrics};
use crate::reviews::Reviews;
use crate::runtime::guest::{Limits, new_store, within_deadline};
use crate::runtime::{Generation, LoadedAdapter, Runtime};
use crate::upstream::AdapterUpstream;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// The request header that tells adapters the authenticated client user
/// (present only when client authentication is on).
pub const USER_HEADER: &str = "x-gatehouse-user";

/// The largest request body accepted, before and after decoding (npm audit posts
/// are the biggest).
const MAX_REQUEST_BODY: usize = 16 << 20;

/// One adapter's wiring: its upstream, settings and limits.
pub struct AdapterRoute {
    pub upstream: Arc<AdapterUpstream>,
    pub settings: String,
    pub limits: Limits,
}

/// Everything the server needs.
pub struct App {
    pub runtime: Arc<Runtime>,
    /// Who may use the admin API.
    pub admin_tokens: Tokens,
    /// When client auth is on: who may use the proxy routes and `decide`.
    pub client_tokens: Option<Tokens>,
    pub reviews: Arc<Reviews>,
    pub routes: BTreeMap<String, AdapterRoute>,
    pub artifacts: ArtifactStore,
    pub public_url: Option<Url>,
    pub trust_forwarded: bool,
    pub mirror: Option<Arc<gatehouse_osv::Mirror>>,
    /// Adapter outcomes reused while what they were built from holds.
    pub memo: Memo,
    /// Last-stop gate answers for artifacts, reused briefly.
    pub gate_memo: GateMemo,
    /// Which auth failures get an audit record of their own.
    pub auth_failures: crate::bounds::AuthFailureLog,
}

/// Serves `app` on `listener` until `stopping` turns true (for ever when its
/// sender is dropped); then stops accepting, lets each connection finish the
/// request it is on (idle ones close at once) and returns when all have ended.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connections = Connections::new(&app.runtime.caps.bounds);
    let mut accept_errors = AcceptBackoff::default();
    let mut open = tokio::task::JoinSet::new();
    loop {
        let next = async {
            let permit = connections.permit().await;
            (permit, listener.accept().await)
        };
        let (permit, stream, remote) = tokio::select! {
            // A dropped sender never stops the server.
            true = stop_signalled(stopping.clone()) => break,
            Some(_) = open.join_next(), if !open.is_empty() => continue,
            (permit, accepted) = next => match accepted {
                Ok((stream, remote)) => (permit, stream, remote),
                Err(error) => {
                    accept_errors.failed(&error).await;
                    continue;
                }
            },
        };
        accept_errors.succeeded();
        connections.serve(
            &mut open,
            app.clone(),
            stream,
            remote,
            permit,
            stopping.clone(),
        );
    }
    // New connections are refused from here on.
    drop(listener);
    while open.join_next().await.is_some() {}
    Ok(())
}

/// Client connections held to the caps: at most `limits.max_connections` open
/// (past it new ones wait in the listen backlog), each closed when its client
/// takes longer than `limits.header_read_timeout_ms` to send a request's
/// headers or sits idle that long between requests, or stops reading a
/// response for `limits.write_timeout_ms`.
struct Connections {
    open: Arc<tokio::sync::Semaphore>,
    header_read_timeout: Duration,
    write_timeout: Duration,
}

impl Connections {
    fn new(bounds: &crate::config::Bounds) -> Self {
        Connections {
            open: Arc::new(tokio::sync::Semaphore::new(bounds.max_connections.max(1))),
            header_read_timeout: bounds.header_read_timeout(),
            write_timeout: bounds.write_timeout(),
        }
    }

    /// Waits until one more connection may be open.
    async fn permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.open
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed")
    }

    /// Serves one accepted connection on `open`; its permit is given back when
    /// it closes. Once `stopping`, it finishes the request it is on and closes.
    fn serve(
        &self,
        open: &mut tokio::task::JoinSet<()>,
        app: Arc<App>,
        stream: tokio::net::TcpStream,
        remote: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let _ = stream.set_nodelay(true);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let write_timeout = self.write_timeout;
        open.spawn(async move {
            let _open = permit;
            let service = hyper::service::service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, request, remote).await) }
            });
            // A client that stops reading would hold its slot for ever.
            let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
            stream.set_write_timeout(Some(write_timeout));
            let connection = http.serve_connection(TokioIo::new(Box::pin(stream)), service);
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                true = stop_signalled(stopping) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = ended {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        });
    }
}

/// Whether a stop was signalled (false: the sender is gone, never stop).
async fn stop_signalled(mut stopping: tokio::sync::watch::Receiver<bool>) -> bool {
    stopping.wait_for(|stop| *stop).await.is_ok()
}

/// The first pause after a failed accept; it doubles up to [`ACCEPT_PAUSE_MAX`].
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(5);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// Failed accepts are logged at most this often, with a count.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Failed accepts (out of file descriptors, say) are retried after a pause
/// that doubles up to a second and logged at most every ten seconds with a
/// count, so a descriptor shortage costs neither CPU nor log, and serving
/// resumes by itself once descriptors free up.
#[derive(Default)]
struct AcceptBackoff {
    pause: Duration,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl AcceptBackoff {
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }

    async fn failed(&mut self, error: &std::io::Error) {
        self.unlogged += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= ACCEPT_LOG_EVERY)
        {
            tracing::warn!(%error, failures = self.unlogged, "accepting connections failed; retrying with backoff");
            self.unlogged = 0;
            self.logged_at = Some(Instant::now());
        }
        self.pause = (self.pause * 2).clamp(ACCEPT_PAUSE_MIN, ACCEPT_PAUSE_MAX);
        tokio::time::sleep(self.pause).await;
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
}

/// An error in the shape most clients print: `{"error": message}`, with the
/// message in the status line too (pip and Maven show only that).
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = json(status, &serde_json::json!({ "error": printable(message) }));
    set_reason(&mut response, status, message);
    response
}

fn set_reason(response: &mut Response<Body>, status: StatusCode, message: &str) {
    let canonical = status.canonical_reason().unwrap_or("Error");
    let phrase: String = format!("{canonical} ({})", printable(message))
        .chars()
        .map(|c| match c {
            c if c.is_ascii_graphic() || c == ' ' => c,
            '\u{2013}' | '\u{2014}' => '-',
            _ => ' ',
        })
        .take(480)
        .collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
        response.extensions_mut().insert(reason);
    }
}

/// `text` safe to print on a client's terminal: terminal escape sequences
/// and control characters removed (line breaks and tabs become spaces), so
/// a reason cannot recolour, retitle or rewrite what the user sees.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // CSI: parameters up to a final byte; OSC, DCS and the other string
        // sequences: up to BEL or ST; any other escape: one more character.
        let escape = match c {
            '\u{1b}' => match chars.next() {
                Some('[') => Some(false),
                Some(']' | 'P' | 'X' | '^' | '_') => Some(true),
                _ => None,
            },
            '\u{9b}' => Some(false),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => Some(true),
            '\n' | '\r' | '\t' => {
                out.push(' ');
                continue;
            }
            c if c.is_control() => continue,
            c => {
                out.push(c);
                continue;
            }
        };
        match escape {
            Some(false) => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(true) => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{9c}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            None => {}
        }
    }
    out.into()
}

/// Answers one request and counts it by route and status.
async fn handle(app: &Arc<App>, request: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
    let path = request.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let route = match first {
        "healthz" | "metrics" => first.to_owned(),
        "api" => "api".to_owned(),
        adapter if app.routes.contains_key(adapter) => adapter.to_owned(),
        _ => "none".to_owned(),
    };
    let response = if matches!(route.as_str(), "healthz" | "metrics") {
        route_request(app, request, remote).await
    } else {
        audited(app, route_request(app, request, remote)).await
    };
    metrics()
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// Answers with `answer` only once the records it appended are on disk (as
/// `audit.sync` says); while the log cannot be written, answers 503 with the
/// reason instead, so nothing is served unaudited.
async fn audited(app: &App, answer: impl Future<Output = Response<Body>>) -> Response<Body> {
    let audit = &app.runtime.caps.audit;
    if let Some(unavailable) = audit.failure() {
        return error(StatusCode::SERVICE_UNAVAILABLE, &unavailable.to_string());
    }
    let response = answer.await;
    match audit.commit().await {
        Ok(()) => response,
        Err(unavailable) => error(StatusCode::SERVICE_UNAVAILABLE, &unavailable.to_string()),
    }
}

async fn route_request(
    app: &Arc<App>,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let address = remote.ip().to_string();
    if path == "/metrics" {
        metrics().observe_osv(&app.runtime.caps.osv.health());
        let mut response = Response::new(full(metrics().render()));
        response.headers_mut().insert(
            CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("static header"),
        );
        return response;
    }
    if path == "/healthz" || path.starts_with(crate::admin::ADMIN) {
        return match path.as_str() {
            "/healthz" => healthz(app),
            _ => api::handle(app, request, Some(address)).await,
        };
    }
    // Everything else is for package clients: the proxy routes and `decide`.
    let user = match &app.client_tokens {
        None => None,
        Some(tokens) => {
            let user = crate::auth::presented_token(request.headers())
                .and_then(|token| tokens.identify(&token).map(str::to_owned));
            match user {
                Some(user) => Some(user),
                None => {
                    return crate::admin::refuse(
                        app,
                        "client",
                        Some(&address),
                        &path,
                        "authentication required: configure a gatehouse token in your client (npm _authToken, a pip index URL with user:token@, a cargo registry token)",
                    );
                }
            }
        }
    };
    let requester = Some(match &user {
        Some(user) => format!("{user}@{address}"),
        None => address,
    });
    match path.as_str() {
        p if p.starts_with("/api/v1/") => api::handle(app, request, requester).await,
        _ => {
            let trimmed = path.trim_start_matches('/');
            let (prefix, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
            let rest = format!("/{rest}");
            adapter_request(app, prefix, &rest, request, requester, user).await
        }
    }
}

/// `ok`, or `degraded` (still 200: the proxy serves, but advisory data is
/// missing or older than `osv.max_age`) with the reasons; 503 while components load.
fn healthz(app: &App) -> Response<Body> {
    if let Some(unavailable) = app.runtime.caps.audit.failure() {
        return error(StatusCode::SERVICE_UNAVAILABLE, &unavailable.to_string());
    }
    if !app.runtime.is_ready() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "components are still loading",
        );
    }
    let osv = app.runtime.caps.osv.health();
    let reasons: Vec<&str> = osv.iter().filter_map(|e| e.stale.as_deref()).collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "status": if reasons.is_empty() { "ok" } else { "degraded" },
            "reasons": reasons,
            "generation": app.runtime.current().id,
            "osv": osv,
        }),
    )
}

/// Where clients reach adapter `prefix`, without a trailing slash.
fn public_base(app: &App, request: &Request<Incoming>, prefix: &str) -> String {
    if let Some(url) = &app.public_url {
        return format!("{}/{prefix}", url.as_str().trim_end_matches('/'));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
    };
    let (scheme, host) = if app.trust_forwarded {
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

/// Runs `adapter`'s `handle` on `request` for `route`, instantiation
/// included, within the route's deadline and counted in the metrics; then
/// settles the upstream copies it read. Returns its outcome and what it read.
pub async fn call_adapter(
    generation: &Arc<Generation>,
    caps: &Arc<Capabilities>,
    adapter: &LoadedAdapter,
    route: &AdapterRoute,
    requester: Option<String>,
    request: &crate::bindings::adapter::Request,
) -> (wasmtime::Result<Outcome>, Trace) {
    let mut store = new_store(
        &generation.engine,
        caps.clone(),
        CallScope::Adapter {
            upstream: route.upstream.clone(),
            generation: generation.clone(),
        },
        adapter.name.clone(),
        requester,
        route.limits,
    );
    let started = Instant::now();
    let call = async {
        let instance = adapter.pre.instantiate_async(&mut store).await?;
        instance
            .call_handle(&mut store, &route.settings, request)
            .await
    };
    let outcome = within_deadline(&route.limits, call).await;
    metrics().guest_call(
        "adapter",
        &adapter.name,
        started.elapsed(),
        outcome
            .as_ref()
            .err()
            .map(|e| GuestFailure::classify(e).class()),
    );
    let trace = std::mem::take(&mut store.data_mut().trace);
    drop(store);
    // Upstream copies become the cached ones only when the adapter could
    // build an answer from them; a body it could not use is fetched again.
    let accepted = match &outcome {
        Ok(Outcome::Respond(built)) => built.status < 500,
        Ok(Outcome::Artifact(_)) => true,
        Err(_) => false,
    };
    route
        .upstream
        .shared()
        .settle(&trace.stamps, accepted)
        .await;
    (outcome, trace)
}

async fn adapter_request(
    app: &Arc<App>,
    prefix: &str,
    path: &str,
    request: Request<Incoming>,
    requester: Option<String>,
    user: Option<String>,
) -> Response<Body> {
    let generation = app.runtime.current();
    let Some(adapter) = generation.adapters.get(prefix).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no adapter serves /{prefix}/"),
        );
    };
    let Some(route) = app.routes.get(prefix) else {
        return error(
            StatusCode::BAD_GATEWAY,
            &format!(
                "no upstream is configured for the {prefix} adapter; set upstreams.{prefix}.url in gatehouse.yaml or pass --upstream {prefix}=URL"
            ),
        );
    };
    let head = request.method() == Method::HEAD;
    let public_base = public_base(app, &request, prefix);
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
    let body_timeout = app.runtime.caps.bounds.request_body_timeout();
    let reading = Limited::new(request.into_body(), MAX_REQUEST_BODY).collect();
    let body = match tokio::time::timeout(body_timeout, reading).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                &format!("the request body took longer than {body_timeout:?} to arrive"),
            );
        }
    };
    let body = match decoded_body(&mut headers, body).await {
        Ok(body) => body,
        Err(problem) => return error(StatusCode::BAD_REQUEST, &problem),
    };
    // HEAD is answered like GET (without the body), so they share entries.
    let memo_key = matches!(method.as_str(), "GET" | "HEAD").then(|| {
        format!(
            "{prefix}\n{}\n{}\n{}\n{path}\n{}\n{public_base}",
            adapter.sha256,
            generation.id,
            app.runtime.caps.decision_epoch(),
            query.as_deref().unwrap_or("")
        )
    });
    let gzip = accepts_gzip(&headers);
    if let Some(key) = &memo_key
        && let Some(hit) = app.memo.get(key, &headers, route.upstream.shared())
    {
        return match hit {
            Remembered::Respond(built) => built_response(built, head, gzip, prefix),
            Remembered::Artifact(plan) => {
                serve_artifact(app, route, &generation, *plan, requester, head, Some(key)).await
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
    let caps = app.runtime.caps.clone();
    let (outcome, trace) = call_adapter(
        &generation,
        &caps,
        &adapter,
        route,
        requester.clone(),
        &wit_request,
    )
    .await;
    let response_cap = app.runtime.caps.bounds.response_mb << 20;
    match outcome {
        Ok(Outcome::Respond(built)) if built.body.len() > response_cap => {
            tracing::error!(
                adapter = prefix,
                bytes = built.body.len(),
                "adapter response past limits.response_mb"
            );
            error(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "the {prefix} adapter built a {} MiB response; at most {} MiB are served (limits.response_mb)",
                    built.body.len() >> 20,
                    response_cap >> 20
                ),
            )
        }
        Ok(Outcome::Respond(built)) => {
            let built = Built::new(built.status, built.headers, Bytes::from(built.body));
            let kept = memo_key.is_some_and(|key| {
                app.memo.put(
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
                app.memo.put(
                    key.clone(),
                    &request_headers,
                    Remembered::Artifact(Box::new(plan.clone())),
                    trace,
                );
            }
            serve_artifact(
                app,
                route,
                &generation,
                plan,
                requester,
                head,
                memo_key.as_deref(),
            )
            .await
        }
        Err(failure) => {
            let failure = GuestFailure::classify(&failure);
            generation
                .failures
                .record(crate::runtime::Kind::Adapter, &adapter.name, &failure);
            let failure =
                crate::bounds::cut_str(&failure.to_string(), app.runtime.caps.bounds.reason_bytes);
            tracing::error!(adapter = prefix, %failure, "adapter failed");
            error(
                StatusCode::BAD_GATEWAY,
                &format!("the {prefix} adapter failed ({failure}); nothing was served"),
            )
        }
    }
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
fn built_response(built: Built, head: bool, accepts_gzip: bool, adapter: &str) -> Response<Body> {
    let status = built.status.as_u16();
    if !(200..=599).contains(&status) {
        tracing::error!(adapter, status, "adapter answered an invalid status");
        return error(
            StatusCode::BAD_GATEWAY,
            &format!(
                "the {adapter} adapter answered with status {status}, which no response may have; nothing was served"
            ),
        );
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
    response
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

/// The last-stop gate, then fetch-verify-cache, then the bytes.
async fn serve_artifact(
    app: &Arc<App>,
    route: &AdapterRoute,
    generation: &Arc<Generation>,
    plan: ArtifactPlan,
    requester: Option<String>,
    head: bool,
    memo_key: Option<&str>,
) -> Response<Body> {
    let caps = &app.runtime.caps;
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
    let remembered = gate_key.as_deref().and_then(|key| app.gate_memo.get(key));
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
                app.gate_memo.put(key, answer.clone());
            }
            answer
        }
    };
    if let GateAnswer::Block { message, .. } = answer {
        return blocked(plan.error_format, &message);
    }
    let ready = match Expected::from_declared(&plan.digests) {
        Ok(expected) => {
            app.artifacts
                .obtain(&route.upstream, &plan.url, &expected)
                .await
        }
        Err(e) => Err(e),
    };
    let ready = match ready {
        Ok(ready) => ready,
        Err(failure) => {
            caps.audit
                .append(&record("artifact-refused", failure.to_string()));
            tracing::warn!(package = %facts.name, version = %facts.version, %failure, "artifact refused");
            return error(
                failure.status(),
                &format!("{}@{}: {failure}", facts.name, facts.version),
            );
        }
    };
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
    response
}

fn futures_map(
    stream: tokio_util::io::ReaderStream<tokio::fs::File>,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, std::io::Error>> {
    use tokio_stream::StreamExt as _;
    stream.map(|chunk| chunk.map(Frame::data))
}

/// A block in the client's own format, with the reason in the status line.
pub fn blocked(format: ErrorFormat, message: &str) -> Response<Body> {
    let status = StatusCode::FORBIDDEN;
    let message = printable(message);
    let mut response = match format {
        ErrorFormat::Json => json(status, &serde_json::json!({ "error": message })),
        ErrorFormat::Text => {
            let mut response = Response::new(full(format!("{message}\n")));
            *response.status_mut() = status;
            response.headers_mut().insert(
                CONTENT_TYPE,
                "text/plain; charset=utf-8".parse().expect("static header"),
            );
            response
        }
    };
    set_reason(&mut response, status, &message);
    response
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
