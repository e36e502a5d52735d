//! A 5,000-version (~20 MB) packument filtered through the real path — the
//! npm adapter component and the deny-list policy in `gatehouse serve`'s
//! server, upstream copy already cached, memo off — next to a bare native
//! `serde_json` parse + serialize of the same bytes. Goal: ≤ 1.5×.

// Tests and benchmarks prepare and inspect files directly.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse::adapter_route::AdapterRoute;
use gatehouse::app::App;
use gatehouse::artifact::ArtifactStore;
use gatehouse::capabilities::Capabilities;
use gatehouse::capabilities::audit::AuditLog;
use gatehouse::capabilities::osv::FixedAdvisories;
use gatehouse::capabilities::store::KvStore;
use gatehouse::capabilities::upstream::{AdapterUpstream, Upstreams};
use gatehouse::components::{ADAPTERS, POLICIES};
use gatehouse::config::UpstreamSettings;
use gatehouse::http::{Body, full};
use gatehouse::memo::{GateMemo, Memo};
use gatehouse::proxy::Proxy;
use gatehouse::reviews::Reviews;
use gatehouse::runtime::engine::Engine;
use gatehouse::runtime::guest::Limits;
use gatehouse::runtime::{Layout, Runtime};

#[path = "../../adapters/npm/benches/generated.rs"]
mod generated;

const ROUNDS: usize = 10;

fn fastest(mut run: impl FnMut() -> Duration) -> Duration {
    (0..ROUNDS).map(|_| run()).min().unwrap_or_default()
}

/// Serves `body` for every request on 127.0.0.1; returns the base URL.
async fn fake_upstream(body: bytes::Bytes) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::<Body>::new(full(body)))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(url)
}

fn main() -> anyhow::Result<()> {
    let body = generated::packument();
    println!(
        "packument: {} versions, {:.1} MB",
        generated::VERSIONS,
        body.len() as f64 / 1e6
    );
    let native = fastest(|| {
        let started = Instant::now();
        let value: serde_json::Value = serde_json::from_slice(&body).expect("parses");
        black_box(serde_json::to_vec(&value).expect("serialises"));
        started.elapsed()
    });

    let scratch = tempfile::tempdir()?;
    let dir = scratch.path();
    for (kind, components, name) in [
        ("adapters", ADAPTERS, "npm"),
        ("policies", POLICIES, "deny-list"),
    ] {
        let (_, bytes) = components.iter().find(|(n, _)| *n == name).expect("built");
        std::fs::create_dir_all(dir.join(kind))?;
        std::fs::write(dir.join(kind).join(format!("{name}.wasm")), bytes)?;
    }
    std::fs::write(
        dir.join("gate-policy.yaml"),
        "policies:\n  default:\n    deny-list: {packages: [\"big-package@0.0.3\"]}\n",
    )?;
    let tokio = tokio::runtime::Runtime::new()?;
    let through_gatehouse = tokio.block_on(async {
        let caps = Arc::new(Capabilities {
            osv: Arc::new(FixedAdvisories::default()),
            store: Arc::new(KvStore::default()),
            audit: Arc::new(AuditLog::open(&dir.join("audit.log"))?),
            exceptions: Default::default(),
            bounds: Default::default(),
        });
        let layout = Layout {
            adapters_dir: dir.join("adapters"),
            policies_dir: dir.join("policies"),
            gate_policy: dir.join("gate-policy.yaml"),
        };
        let runtime = Runtime::new(Engine::new(&dir.join("compiled"))?, caps, layout)?;
        runtime.reload().await;
        let upstream_url = fake_upstream(body.clone().into()).await?;
        let shared = Upstreams::new(&dir.join("metadata"), UpstreamSettings::default())?;
        let route = AdapterRoute {
            adapter: "npm".into(),
            upstream: Arc::new(AdapterUpstream::new(
                url::Url::parse(&upstream_url)?,
                &[],
                shared,
            )),
            settings: "{}".into(),
            limits: Limits {
                timeout: Duration::from_secs(60),
                memory_bytes: 1 << 30,
            },
        };
        let app = Arc::new(App {
            admin_tokens: Default::default(),
            client_tokens: None,
            reviews: Arc::new(Reviews::open(
                &dir.join("reviews.json"),
                runtime.caps.store.clone(),
            )?),
            runtime,
            proxy: Proxy {
                routes: [("npm".to_owned(), route)].into(),
                artifacts: ArtifactStore::open(&dir.join("artifacts"), u64::MAX)?,
                public_url: None,
                trust_forwarded: false,
                // Off: every request runs the adapter and the policies.
                memo: Memo::new(0),
                gate_memo: GateMemo::new(Duration::ZERO, 0),
                contents: Default::default(),
                sboms: gatehouse::sbom_store::SbomStore::open(&dir.join("sbom.sqlite"), 1)?,
            },
            mirror: None,
            auth_failures: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/npm/big-package", listener.local_addr()?);
        tokio::spawn(gatehouse::server::serve(
            app,
            listener,
            tokio::sync::watch::channel(false).1,
        ));
        let client = reqwest::Client::new();
        // The first request fetches from upstream; the timed ones use the cached copy.
        let first = client.get(&url).send().await?;
        anyhow::ensure!(first.status() == 200, "status {}", first.status());
        first.bytes().await?;
        let mut best = Duration::MAX;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(response.status() == 200, "status {}", response.status());
            black_box(response.bytes().await?);
            best = best.min(started.elapsed());
        }
        anyhow::Ok(best)
    })?;
    println!(
        "native serde_json parse + serialize: {:>8.1} ms",
        native.as_secs_f64() * 1e3
    );
    println!(
        "through gatehouse (npm.wasm + deny-list.wasm): {:>8.1} ms",
        through_gatehouse.as_secs_f64() * 1e3
    );
    println!(
        "ratio: {:.2}x (goal ≤ 1.5x)",
        through_gatehouse.as_secs_f64() / native.as_secs_f64()
    );
    Ok(())
}
