//! The HTTP front: accepts connections within their caps, and routes each
//! request: `/healthz` and `/metrics` here, `/api/` to [`crate::api`],
//! `/console/` to the admin console ([`crate::console`], whose sessions live
//! as long as the server), `/v2/` to the OCI distribution front
//! ([`crate::oci`]) and `/{adapter}/...` to the adapter pipeline
//! ([`crate::proxy`]), after client authentication, with every answer held
//! until its audit records are written.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::app::App;
use crate::console::{self, Sessions};
use crate::http::{Body, HttpError, full, json};
use crate::metrics::{RequestLabels, metrics};
use crate::{api, oci};

/// Serves `app` on `listener` until `stopping` turns true (for ever when its
/// sender is dropped); then stops accepting, lets each connection finish the
/// request it is on (idle ones close at once) and returns when all have ended.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connections = Connections::new(&app.runtime.caps.bounds);
    let sessions = Arc::new(Sessions::new(&app.runtime.caps.bounds));
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
            (app.clone(), sessions.clone()),
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
        (app, sessions): (Arc<App>, Arc<Sessions>),
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
                let (app, sessions) = (app.clone(), sessions.clone());
                async move { Ok::<_, Infallible>(handle(&app, &sessions, request, remote).await) }
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

/// Answers one request and counts it by route and status.
async fn handle(
    app: &Arc<App>,
    sessions: &Sessions,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let path = request.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let route = match first {
        "healthz" | "metrics" => first.to_owned(),
        "api" | "console" => first.to_owned(),
        "v2" => "oci".to_owned(),
        adapter if app.proxy.routes.contains_key(adapter) => adapter.to_owned(),
        _ => "none".to_owned(),
    };
    let response = if matches!(route.as_str(), "healthz" | "metrics") {
        route_request(app, sessions, request, remote).await
    } else {
        audited(app, route_request(app, sessions, request, remote)).await
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
        return HttpError::from(unavailable).into_response();
    }
    let response = answer.await;
    match audit.commit().await {
        Ok(()) => response,
        Err(unavailable) => HttpError::from(unavailable).into_response(),
    }
}

async fn route_request(
    app: &Arc<App>,
    sessions: &Sessions,
    request: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let address = remote.ip().to_string();
    if path == "/metrics" {
        crate::capabilities::osv::advisories::publish(&app.runtime.caps.osv.health());
        let mut response = Response::new(full(metrics().render()));
        response.headers_mut().insert(
            CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("static header"),
        );
        return response;
    }
    if path == console::PREFIX || path.starts_with("/console/") {
        return console::handle(app, sessions, request, &address).await;
    }
    if path == "/healthz" || path.starts_with(crate::admin::ADMIN) {
        return match path.as_str() {
            "/healthz" => HttpError::respond(healthz(app)),
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
                    let refused = app.refuse(
                        "client",
                        Some(&address),
                        &path,
                        "authentication required: configure a gatehouse token in your client (npm _authToken, a pip index URL with user:token@, a cargo registry token, podman or docker login with the token as password)",
                    );
                    return match oci::is_oci_path(&path) {
                        true => refused.into_oci_response(),
                        false => refused.into_response(),
                    };
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
        p if oci::is_oci_path(p) => oci::handle(app, request, requester, user).await,
        _ => {
            let trimmed = path.trim_start_matches('/');
            let (prefix, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
            let rest = format!("/{rest}");
            app.proxy
                .handle(&app.runtime, prefix, &rest, request, requester, user)
                .await
        }
    }
}

/// `ok`, or `degraded` (still 200: the proxy serves, but advisory data is
/// missing or older than `osv.max_age`) with the reasons; 503 while components load.
fn healthz(app: &App) -> Result<Response<Body>, HttpError> {
    if let Some(unavailable) = app.runtime.caps.audit.failure() {
        return Err(unavailable.into());
    }
    if !app.runtime.is_ready() {
        return Err(HttpError::Unavailable(
            "components are still loading".into(),
        ));
    }
    let osv = app.runtime.caps.osv.health();
    let reasons: Vec<&str> = osv.iter().filter_map(|e| e.stale.as_deref()).collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "status": if reasons.is_empty() { "ok" } else { "degraded" },
            "reasons": reasons,
            "generation": app.runtime.current().id,
            "osv": osv,
        }),
    ))
}
