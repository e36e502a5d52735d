//! The admin console at `/console/`: server-rendered pages for the people who
//! run the firewall, another view onto the services the admin API uses
//! (`admin`'s operations, the audit index, the runtime's component
//! statuses, the OSV health, exceptions and reviews).
//!
//! Signing in takes an admin token (a wrong one is refused and audited like
//! the admin API's); the session lives in a cookie ([`session`]) and every
//! write carries the session's CSRF token, checked here before any page's
//! handler runs. Pages: [`overview`], [`audit`], [`package`], [`exceptions`]
//! (and reviews), [`policies`]; [`html`] holds what they share. Nothing is
//! fetched from elsewhere: the stylesheet and the script are compiled in.
//! The proxy's requests never reach this module (the server matches the
//! `/console` prefix first).

mod audit;
mod exceptions;
mod html;
mod overview;
mod package;
mod policies;
mod session;

pub use session::Sessions;

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::http::{Body, HttpError, read_body};
use html::Nav;
use session::Signed;

/// The console's paths start with this.
pub const PREFIX: &str = "/console";

/// The largest form the console accepts.
const MAX_FORM: usize = 16 << 10;

const STYLESHEET: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");

/// Answers one request under [`PREFIX`] from `address`.
pub async fn handle(
    app: &Arc<App>,
    sessions: &Sessions,
    request: Request<Incoming>,
    address: &str,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let inner = path.strip_prefix(PREFIX).unwrap_or("").to_owned();
    let method = request.method().clone();
    match (&method, inner.as_str()) {
        (&Method::GET, "") => return html::redirect("/console/"),
        (&Method::GET, "/static/console.css") => {
            return html::asset("text/css; charset=utf-8", STYLESHEET);
        }
        (&Method::GET, "/static/console.js") => {
            return html::asset("text/javascript; charset=utf-8", SCRIPT);
        }
        (&Method::GET, "/sign-in") => return sign_in_page(StatusCode::OK, None),
        (&Method::POST, "/sign-in") => {
            return sign_in(app, sessions, request, address)
                .await
                .unwrap_or_else(|error| sign_in_page(error.status(), Some(&error)));
        }
        _ => {}
    }
    let Some(signed) = sessions.find(request.headers()) else {
        return html::redirect("/console/sign-in");
    };
    let answer = if method == Method::POST {
        write(app, sessions, &signed, request, &inner).await
    } else if method == Method::GET {
        let query = request.uri().query().unwrap_or("");
        read(app, &signed, &inner, query).await
    } else {
        Err(HttpError::NotFound(format!("no console page at {path}")))
    };
    answer.unwrap_or_else(|error| html::error_page(error, Some(&signed)))
}

/// A page.
async fn read(
    app: &Arc<App>,
    signed: &Signed,
    inner: &str,
    query: &str,
) -> Result<Response<Body>, HttpError> {
    match inner {
        "/" => overview::page(app, signed).await,
        "/audit" => audit::page(app, signed, parse(query)?).await,
        "/package" => package::page(app, signed, parse(query)?).await,
        "/sbom" => package::sbom(app, parse(query)?).await,
        "/exceptions" => Ok(exceptions::page(app, signed)),
        "/policies" => Ok(policies::page(app, signed)),
        _ => Err(HttpError::NotFound(format!(
            "no console page at {PREFIX}{inner}"
        ))),
    }
}

/// A write: only with the session's CSRF token; answered with a redirect to
/// the page it came from.
async fn write(
    app: &Arc<App>,
    sessions: &Sessions,
    signed: &Signed,
    request: Request<Incoming>,
    inner: &str,
) -> Result<Response<Body>, HttpError> {
    #[derive(serde::Deserialize)]
    struct Common {
        csrf: Option<String>,
        back: Option<String>,
    }
    let timeout = app.runtime.caps.bounds.request_body_timeout();
    let secure = served_securely(app, &request);
    let body = read_body(request, MAX_FORM, timeout).await?;
    let common: Common = parse_bytes(&body)?;
    signed.check_csrf(common.csrf.as_deref())?;
    let back = common
        .back
        .filter(|b| b.starts_with("/console/") && !b.contains("//") && !b.contains('\\'));
    let done = match inner {
        "/sign-out" => {
            sessions.close(signed);
            let mut response = html::redirect("/console/sign-in");
            set_cookie(&mut response, "", Duration::ZERO, secure);
            return Ok(response);
        }
        "/exceptions" => exceptions::create(app, signed, parse_bytes(&body)?).await?,
        "/exceptions/revoke" => exceptions::revoke(app, signed, parse_bytes(&body)?).await?,
        "/reviews" => exceptions::review(app, signed, parse_bytes(&body)?).await?,
        _ => {
            return Err(HttpError::NotFound(format!(
                "nothing to send to {PREFIX}{inner}"
            )));
        }
    };
    Ok(html::redirect(back.as_deref().unwrap_or(done)))
}

/// Signs in with the admin token in the form; a wrong one is refused (401)
/// and audited as the admin API's refusals are.
async fn sign_in(
    app: &Arc<App>,
    sessions: &Sessions,
    request: Request<Incoming>,
    address: &str,
) -> Result<Response<Body>, HttpError> {
    #[derive(serde::Deserialize)]
    struct SignIn {
        #[serde(default)]
        token: String,
    }
    let path = request.uri().path().to_owned();
    let secure = served_securely(app, &request);
    let timeout = app.runtime.caps.bounds.request_body_timeout();
    let form: SignIn = parse_bytes(&read_body(request, MAX_FORM, timeout).await?)?;
    let token = form.token.trim();
    let Some(admin) = app.admin_tokens.identify(token) else {
        let presented = (!token.is_empty()).then_some(token);
        let why = crate::admin::refusal(app, "the console", presented, "enter an admin token");
        return Err(app.refuse("admin", Some(address), &path, &why));
    };
    let id = sessions.open(admin)?;
    let mut response = html::redirect("/console/");
    set_cookie(&mut response, &id, sessions.lifetime(), secure);
    Ok(response)
}

fn sign_in_page(status: StatusCode, problem: Option<&HttpError>) -> Response<Body> {
    let problem = problem.map_or(String::new(), |error| {
        format!(
            "<p class=\"problem\" role=\"alert\" id=\"sign-in-problem\">{}</p>",
            html::esc(&error.to_string())
        )
    });
    let body = format!(
        "{problem}<form method=\"post\" action=\"/console/sign-in\" class=\"card narrow\">{}\
         <p class=\"hint\">An admin token from <code>admin.tokens</code> (<code>gatehouse token new NAME</code> prints one). It is checked once; the console keeps only a session cookie and never shows the token.</p>\
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form>",
        html::field(
            "Admin token",
            "token",
            "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"current-password\" required autofocus>"
        )
    );
    html::page(status, "Sign in", Nav::None, None, &body)
}

fn set_cookie(response: &mut Response<Body>, id: &str, max_age: Duration, secure: bool) {
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(id, max_age, secure)) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
}

/// Whether the browser reached the console over HTTPS: the configured
/// `public_url` says so, or a trusted proxy's `X-Forwarded-Proto` does.
fn served_securely(app: &App, request: &Request<Incoming>) -> bool {
    let proxy = &app.proxy;
    proxy
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https")
        || (proxy.trust_forwarded
            && request
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

fn parse<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, HttpError> {
    parse_bytes(query.as_bytes())
}

fn parse_bytes<T: serde::de::DeserializeOwned>(form: &[u8]) -> Result<T, HttpError> {
    serde_urlencoded::from_bytes(form)
        .map_err(|e| HttpError::BadRequest(format!("the form's fields: {e}")))
}
