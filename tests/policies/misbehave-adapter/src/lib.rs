//! An adapter for the host's tests that misbehaves by request path:
//! `/gate-loop` asks the gate about one version forever, `/fetch-loop`
//! fetches `{upstream}/data` forever, and `/big-response?MIB` answers a body
//! of that many MiB.

use gatehouse_adapter_sdk::{
    Guest, Outcome, Purpose, Request, Response, VersionFacts, gate_unchecked, upstream,
};

pub struct MisbehaveAdapter;

impl Guest for MisbehaveAdapter {
    fn handle(_settings: String, request: Request) -> Outcome {
        match request.path.as_str() {
            "/gate-loop" => loop {
                std::hint::black_box(gate_unchecked(
                    Purpose::Check,
                    &[VersionFacts::named("npm", "looped", "1.0.0")],
                ));
            },
            "/fetch-loop" => {
                let url = format!("{}/data", upstream::base());
                loop {
                    let _ = std::hint::black_box(upstream::fetch(&url, None));
                }
            }
            "/big-response" => {
                let mib: usize = request
                    .query
                    .as_deref()
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1);
                Response::new(200, "application/octet-stream", vec![b'x'; mib << 20]).into()
            }
            _ => Response::text(404, "no such misbehaviour").into(),
        }
    }
}

gatehouse_adapter_sdk::export_adapter!(MisbehaveAdapter);
