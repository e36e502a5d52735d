//! `/metrics`: counters and histograms in the Prometheus text format.
//!
//! One process-wide set, reached through [`metrics()`], so that each part of
//! the request path records its own facts without threading a handle through
//! every call. Label values are bounded: adapter and component names come from
//! the operator's layout, never from request text.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The adapter's route, `api`, `console`, `healthz`, `metrics`, or `none`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub action: String,
    /// The policy behind a block or warning (its configured name, not the
    /// rule it returned: a bounded label set); empty for allowed versions.
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `metadata` or `artifact`.
    pub kind: &'static str,
    /// `hit`, `miss`, `revalidated` or `stale`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuestLabels {
    /// `adapter` or `policy`.
    pub kind: &'static str,
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GuestFailureLabels {
    pub kind: &'static str,
    pub component: String,
    /// `deadline`, `memory`, `trap` or `guest`.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `admin` or `client`.
    pub scope: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OsvLabels {
    /// OSV's spelling: `npm`, `PyPI`, `crates.io`, `Go`, `Maven`.
    pub ecosystem: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric gatehouse exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub cache: Family<CacheLabels, Counter>,
    pub upstream_latency: Histograms<UpstreamLabels>,
    pub guest_latency: Histograms<GuestLabels>,
    pub artifact_fetch: Histogram,
    pub artifact_check: Histogram,
    pub guest_failures: Family<GuestFailureLabels, Counter>,
    pub generation: Gauge,
    pub cache_evictions: Counter,
    pub auth_failures: Family<AuthLabels, Counter>,
    pub osv_records: Family<OsvLabels, Gauge>,
    pub osv_age: Family<OsvLabels, Gauge>,
    pub osv_stale: Family<OsvLabels, Gauge>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::default();
        registry.register(
            "requests",
            "HTTP requests answered, by route and status",
            Family::clone(&requests),
        );
        let decisions = Family::default();
        registry.register(
            "decisions",
            "Version decisions, by action and rule",
            Family::clone(&decisions),
        );
        let cache = Family::default();
        registry.register(
            "cache",
            "Cache lookups, by kind and result",
            Family::clone(&cache),
        );
        let upstream_latency: Histograms<UpstreamLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_seconds",
            "Upstream request latency until headers",
            upstream_latency.clone(),
        );
        let guest_latency: Histograms<GuestLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "guest_call_seconds",
            "Component call latency, instantiation included",
            guest_latency.clone(),
        );
        let artifact_fetch = latency_histogram();
        registry.register(
            "artifact_fetch_seconds",
            "An artifact's fetch from upstream, until its verified copy is in the store",
            artifact_fetch.clone(),
        );
        let artifact_check = latency_histogram();
        registry.register(
            "artifact_check_seconds",
            "The artifact check's first read of an artifact: its manifest out of the bytes, the adapter's reading, the judgement and its SBOM",
            artifact_check.clone(),
        );
        let guest_failures = Family::default();
        registry.register(
            "guest_failures",
            "Component calls that failed, by class",
            Family::clone(&guest_failures),
        );
        let generation = Gauge::default();
        registry.register(
            "component_generation",
            "The component generation serving requests",
            generation.clone(),
        );
        let cache_evictions = Counter::default();
        registry.register(
            "artifact_evictions",
            "Artifacts evicted to keep the store under its size limit",
            cache_evictions.clone(),
        );
        let auth_failures = Family::default();
        registry.register(
            "auth_failures",
            "Requests refused for a missing or wrong token",
            Family::clone(&auth_failures),
        );
        let osv_records = Family::default();
        registry.register(
            "osv_records",
            "OSV advisories held per ecosystem",
            Family::clone(&osv_records),
        );
        let osv_age = Family::default();
        registry.register(
            "osv_age_seconds",
            "Seconds since the ecosystem's last successful OSV sync (-1: never)",
            Family::clone(&osv_age),
        );
        let osv_stale = Family::default();
        registry.register(
            "osv_stale",
            "1 when the ecosystem's advisory data is missing or older than osv.max_age",
            Family::clone(&osv_stale),
        );
        Metrics {
            registry,
            requests,
            decisions,
            cache,
            upstream_latency,
            guest_latency,
            artifact_fetch,
            artifact_check,
            guest_failures,
            generation,
            cache_evictions,
            auth_failures,
            osv_records,
            osv_age,
            osv_stale,
        }
    }

    /// Sets one ecosystem's OSV gauges from the mirror's current figures.
    pub fn observe_osv(
        &self,
        ecosystem: &str,
        records: usize,
        age_seconds: Option<u64>,
        stale: bool,
    ) {
        let labels = OsvLabels {
            ecosystem: ecosystem.to_owned(),
        };
        let records = i64::try_from(records).unwrap_or(i64::MAX);
        self.osv_records.get_or_create(&labels).set(records);
        let age = age_seconds.map_or(-1, |age| i64::try_from(age).unwrap_or(i64::MAX));
        self.osv_age.get_or_create(&labels).set(age);
        self.osv_stale.get_or_create(&labels).set(i64::from(stale));
    }

    /// Counts one cache lookup.
    pub fn cache(&self, kind: &'static str, result: &'static str) {
        self.cache
            .get_or_create(&CacheLabels { kind, result })
            .inc();
    }

    /// Records one upstream round trip.
    pub fn upstream(&self, kind: &'static str, took: Duration) {
        self.upstream_latency
            .get_or_create(&UpstreamLabels { kind })
            .observe(took.as_secs_f64());
    }

    /// Records one guest call and, when it failed, its failure class.
    pub fn guest_call(
        &self,
        kind: &'static str,
        component: &str,
        took: Duration,
        failure: Option<&'static str>,
    ) {
        self.guest_latency
            .get_or_create(&GuestLabels {
                kind,
                component: component.to_owned(),
            })
            .observe(took.as_secs_f64());
        if let Some(class) = failure {
            self.guest_failures
                .get_or_create(&GuestFailureLabels {
                    kind,
                    component: component.to_owned(),
                    class,
                })
                .inc();
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
