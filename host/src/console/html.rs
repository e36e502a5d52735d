//! The console's HTML: escaping, the page frame (navigation, sign-out), the
//! shared pieces pages are built of (tables, fields, badges, bar charts as
//! inline SVG) and the responses that carry them, with the security headers
//! every console answer has.

use std::fmt::Write as _;
use std::time::SystemTime;

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};

use super::session::Signed;
use crate::http::{Body, HttpError, full};

/// Text made safe for HTML content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string value, percent-encoded.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The link to a package's page.
pub fn package_link(ecosystem: &str, package: &str) -> String {
    format!(
        "<a href=\"/console/package?ecosystem={}&amp;name={}\">{}</a>",
        query_value(ecosystem),
        query_value(package),
        esc(package)
    )
}

/// A time as RFC 3339 to the second.
pub fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// An action (`allow`, `warn`, `block` ...) as a coloured badge.
pub fn badge(action: &str) -> String {
    let class = match action {
        "allow" | "active" | "ok" => "ok",
        "warn" | "expired" | "stale" => "warn",
        "block" | "rejected" | "error" | "broken" => "bad",
        _ => "plain",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(action))
}

/// A table row: its class (`""`, `error`, `expired`) and its cells' HTML.
pub struct Row {
    pub class: &'static str,
    pub cells: Vec<String>,
}

impl Row {
    pub fn new(cells: Vec<String>) -> Self {
        Row { class: "", cells }
    }
}

/// A table with a caption (its accessible name), or `empty` when it has no rows.
pub fn table(caption: &str, headers: &[&str], rows: &[Row], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    // The box scrolls sideways on narrow screens; focusable, so the keyboard can too.
    let mut html = format!(
        "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{0}\"><table><caption>{0}</caption><thead><tr>",
        esc(caption)
    );
    for header in headers {
        let _ = write!(html, "<th scope=\"col\">{}</th>", esc(header));
    }
    html.push_str("</tr></thead><tbody>");
    for row in rows {
        if row.class.is_empty() {
            html.push_str("<tr>");
        } else {
            let _ = write!(html, "<tr class=\"{}\">", row.class);
        }
        for cell in &row.cells {
            let _ = write!(html, "<td>{cell}</td>");
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table></div>");
    html
}

/// A labelled form control: `control` is its element, with id `id`.
pub fn field(label: &str, id: &str, control: &str) -> String {
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label>{control}</div>",
        esc(label)
    )
}

/// A form control's id (unique on its page) and name (its form field).
#[derive(Debug, Clone, Copy)]
pub struct Control<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

impl<'a> From<&'a str> for Control<'a> {
    /// The id is the name.
    fn from(name: &'a str) -> Self {
        Control { id: name, name }
    }
}

/// A labelled text input.
pub fn text_input<'a>(
    label: &str,
    control: impl Into<Control<'a>>,
    value: &str,
    extra: &str,
) -> String {
    let Control { id, name } = control.into();
    field(
        label,
        id,
        &format!(
            "<input type=\"text\" id=\"{id}\" name=\"{name}\" value=\"{}\" {extra}>",
            esc(value)
        ),
    )
}

/// A labelled select of `(value, label)` options, `chosen` selected.
pub fn select<'a>(
    label: &str,
    control: impl Into<Control<'a>>,
    options: &[(&str, &str)],
    chosen: &str,
) -> String {
    let Control { id, name } = control.into();
    let mut html = format!("<select id=\"{id}\" name=\"{name}\">");
    for (value, text) in options {
        let selected = if *value == chosen { " selected" } else { "" };
        let _ = write!(
            html,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(value),
            esc(text)
        );
    }
    html.push_str("</select>");
    field(label, id, &html)
}

/// A select of the ecosystems, with `first` (`("", "any")`, say) before them.
pub fn ecosystem_select<'a>(
    control: impl Into<Control<'a>>,
    first: Option<(&str, &str)>,
    chosen: &str,
) -> String {
    let options: Vec<(&str, &str)> = first
        .into_iter()
        .chain(crate::ecosystem::osv_names().map(|name| (name, name)))
        .collect();
    select("Ecosystem", control, &options, chosen)
}

/// A hidden input.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
        esc(value)
    )
}

/// A form that writes (POST), carrying the session's CSRF token.
pub fn post_form(signed: &Signed, action: &str, class: &str, inner: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"{class}\">{}{inner}</form>",
        hidden("csrf", &signed.csrf)
    )
}

/// One series of hourly counts as a bar chart (inline SVG), labelled for
/// screen readers with its total and peak.
pub fn bar_chart(id: &str, title: &str, class: &str, values: &[u64]) -> String {
    const WIDTH: usize = 480;
    const HEIGHT: usize = 120;
    let peak = values.iter().copied().max().unwrap_or(0);
    let total: u64 = values.iter().sum();
    let slot = WIDTH as f64 / values.len().max(1) as f64;
    let mut svg = format!(
        "<figure class=\"chart {class}\"><figcaption id=\"{id}\">{} <span class=\"total\">{total} in 24 h, at most {peak} an hour</span></figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {}\" role=\"img\" aria-labelledby=\"{id}\" preserveAspectRatio=\"none\">",
        esc(title),
        HEIGHT + 16
    );
    for (hour, &value) in values.iter().enumerate() {
        let height = if peak == 0 {
            0.0
        } else {
            value as f64 / peak as f64 * HEIGHT as f64
        };
        let ago = values.len() - hour;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\"><title>{value} in the hour starting {ago} h ago</title></rect>",
            hour as f64 * slot + 1.0,
            HEIGHT as f64 - height,
            (slot - 2.0).max(1.0)
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\"></line>\
         <text x=\"0\" y=\"{0}\">24 h ago</text><text x=\"{WIDTH}\" y=\"{0}\" text-anchor=\"end\">now</text></svg></figure>",
        HEIGHT + 14
    );
    svg
}

/// Which entry of the navigation a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Audit,
    Exceptions,
    Policies,
    /// A page reached from the others (a package).
    None,
}

const NAV: [(Nav, &str, &str); 4] = [
    (Nav::Overview, "/console/", "Overview"),
    (Nav::Audit, "/console/audit", "Audit"),
    (
        Nav::Exceptions,
        "/console/exceptions",
        "Exceptions and reviews",
    ),
    (Nav::Policies, "/console/policies", "Policies"),
];

/// A whole page: the frame around `body`, with the navigation and sign-out
/// for a signed-in admin.
pub fn page(
    status: StatusCode,
    title: &str,
    nav: Nav,
    signed: Option<&Signed>,
    body: &str,
) -> Response<Body> {
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · gatehouse console</title>\
         <link rel=\"stylesheet\" href=\"/console/static/console.css\">\
         <script src=\"/console/static/console.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a><header><span class=\"brand\">gatehouse</span>",
        esc(title)
    );
    if let Some(signed) = signed {
        html.push_str("<nav aria-label=\"Console\"><ul>");
        for (entry, href, label) in NAV {
            let current = if entry == nav {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(html, "<li><a href=\"{href}\"{current}>{label}</a></li>");
        }
        html.push_str("</ul></nav>");
        let _ = write!(
            html,
            "<div class=\"who\">Signed in as <strong>{}</strong>{}</div>",
            esc(&signed.admin),
            post_form(
                signed,
                "/console/sign-out",
                "inline",
                "<button type=\"submit\" id=\"sign-out\">Sign out</button>"
            )
        );
    }
    let _ = write!(
        html,
        "</header><main id=\"main\"><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    let mut response = Response::new(full(html));
    *response.status_mut() = status;
    secure_headers(&mut response, "text/html; charset=utf-8", "no-store");
    response
}

/// The page for a failure: its status and message as `error.rs` maps them.
pub fn error_page(error: HttpError, signed: Option<&Signed>) -> Response<Body> {
    let status = error.status();
    let body = format!(
        "<p class=\"problem\" role=\"alert\">{}</p><p><a href=\"/console/\" data-back>Back</a></p>",
        esc(&error.to_string())
    );
    let title = status.canonical_reason().unwrap_or("Error");
    page(status, title, Nav::None, signed, &body)
}

/// A 303 to `location` (after a form, or to the sign-in page).
pub fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    secure_headers(&mut response, "text/plain; charset=utf-8", "no-store");
    response
}

/// A static asset of the console (its stylesheet and script), cached a day.
pub fn asset(content_type: &'static str, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(text));
    secure_headers(&mut response, content_type, "public, max-age=86400");
    response
}

/// Nothing but the console's own files may load, nothing may frame it, and
/// no address leaks in a Referer.
fn secure_headers(response: &mut Response<Body>, content_type: &'static str, cache: &'static str) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(query_value("a b&c"), "a+b%26c");
    }

    #[test]
    fn a_chart_has_a_bar_per_hour_and_a_label() {
        let chart = bar_chart("c", "Blocks", "blocked", &[0, 2, 4]);
        assert_eq!(chart.matches("<rect").count(), 3);
        assert!(chart.contains("aria-labelledby=\"c\""), "{chart}");
        assert!(chart.contains("6 in 24 h, at most 4 an hour"), "{chart}");
        assert!(bar_chart("c", "Blocks", "blocked", &[0; 24]).contains("0 in 24 h"));
    }

    #[test]
    fn a_table_without_rows_says_so() {
        assert_eq!(
            table("t", &["a"], &[], "None."),
            "<p class=\"empty\">None.</p>"
        );
        let rows = [Row {
            class: "error",
            cells: vec!["x".into()],
        }];
        assert!(table("t", &["a"], &rows, "").contains("<tr class=\"error\"><td>x</td>"));
    }
}
