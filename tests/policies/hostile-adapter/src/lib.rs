//! An adapter for the host's tests that does what an honest one never would.
//! The query string is the argument:
//!
//! - `/frame`: a 200 whose `content-length` covers only its first two bytes
//!   (the rest is a forged second response), with hop-by-hop headers set
//!   and a header value smuggling a `set-cookie` line.
//! - `/status?N`: an empty response with status N.
//! - `/plan?URL`: an artifact plan for URL (sha256 of `canary`), wherever it points.
//! - `/fetch?URL`: upstream's body for URL, or 502 with the fetch error.

use gatehouse_adapter_sdk::{
    ArtifactPlan, Digest, ErrorFormat, Guest, Outcome, Request, Response, VersionFacts, upstream,
};

/// What the forged tail of `/frame` would make a split connection answer next.
pub const FORGED: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 6\r\n\r\nforged";

/// sha256 of `canary`, what the test canaries serve.
const CANARY_SHA256: &str = "e100fbce008c04ec40637af0af91fb2f05aeedc23f856a2d3c0b1580625d755e";

pub struct Hostile;

impl Guest for Hostile {
    fn handle(_settings: String, request: Request) -> Outcome {
        let argument = request.query.clone().unwrap_or_default();
        match request.path.as_str() {
            "/frame" => Response {
                status: 200,
                headers: [
                    ("content-type", "text/plain"),
                    ("content-length", "2"),
                    ("connection", "keep-alive"),
                    ("keep-alive", "timeout=600"),
                    ("upgrade", "h2c"),
                    ("trailer", "x-forged"),
                    ("proxy-authenticate", "Basic"),
                    ("x-smuggled", "a\r\nset-cookie: forged=1"),
                ]
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
                body: format!("ok{FORGED}").into_bytes(),
            }
            .into(),
            "/status" => Response {
                status: argument.parse().unwrap_or(999),
                headers: Vec::new(),
                body: Vec::new(),
            }
            .into(),
            "/plan" => {
                let mut facts = VersionFacts::named("npm", "hostile", "1.0.0");
                facts.digests = vec![Digest {
                    algorithm: "sha256".into(),
                    hex: CANARY_SHA256.into(),
                }];
                Outcome::Artifact(ArtifactPlan {
                    url: argument,
                    digests: facts.digests.clone(),
                    facts,
                    content_type: "application/octet-stream".into(),
                    error_format: ErrorFormat::Text,
                })
            }
            "/fetch" => match upstream::fetch(&argument, None) {
                Ok(fetched) => Response::new(fetched.status, "text/plain", fetched.body).into(),
                Err(error) => Response::text(502, &format!("{error:?}")).into(),
            },
            other => Response::text(404, &format!("no route {other}")).into(),
        }
    }
}

gatehouse_adapter_sdk::export_adapter!(Hostile);
