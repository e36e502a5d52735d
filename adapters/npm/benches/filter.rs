//! The packument filter path against a bare JSON round trip of the same bytes.
//!
//! A generated packument of 5,000 versions (~20 MB) goes through what a
//! packument request does natively (parse, facts for every version, a few
//! blocks, render) and, for scale, through `serde_json` parse + serialise.
//! Run: `cargo bench -p npm --bench filter`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use npm::packument::{Form, Packument, Rendering};
use npm::route::PackageName;
use npm::settings::BlockedVersions;
use serde_json::Value;

mod generated;
use generated::{VERSIONS, packument};

const ROUNDS: usize = 7;

/// The fastest of `ROUNDS` runs of `run`.
fn fastest(mut run: impl FnMut()) -> Duration {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .expect("at least one round")
}

/// Time spent in each step of one packument request.
#[derive(Default)]
struct Steps {
    parse: Duration,
    facts: Duration,
    render: Duration,
}

impl Steps {
    fn total(&self) -> Duration {
        self.parse + self.facts + self.render
    }
}

fn filter(body: &[u8], form: Form) -> Steps {
    let name = PackageName::parse("big-package").expect("valid name");
    let mut steps = Steps::default();
    let start = Instant::now();
    let doc = Packument::parse(body).expect("parses");
    steps.parse = start.elapsed();
    let start = Instant::now();
    let facts = black_box(doc.facts(
        &name,
        &gatehouse_adapter_sdk::FactReads {
            fields: gatehouse_adapter_sdk::FactFields::all(),
            raw_keys: None,
        },
    ));
    steps.facts = start.elapsed();
    let start = Instant::now();
    // All allowed but the newest three, as a release-age policy would decide.
    let blocks: Vec<Option<String>> = (0..facts.len())
        .map(|i| (i + 3 >= facts.len()).then(|| "min-age: published 2 days ago".to_owned()))
        .collect();
    let rendering = Rendering {
        name: &name,
        public_base: "http://127.0.0.1:8080/npm",
        form,
        blocked_versions: BlockedVersions::Deprecate,
    };
    black_box(doc.render(&rendering, &blocks));
    steps.render = start.elapsed();
    steps
}

/// The fastest of `ROUNDS` filter runs.
fn fastest_filter(body: &[u8], form: Form) -> Steps {
    (0..ROUNDS)
        .map(|_| filter(body, form))
        .min_by_key(Steps::total)
        .expect("at least one round")
}

fn main() {
    let body = packument();
    println!(
        "packument: {VERSIONS} versions, {:.1} MB",
        body.len() as f64 / 1e6
    );
    let bare = fastest(|| {
        let value: Value = serde_json::from_slice(black_box(&body)).expect("parses");
        black_box(serde_json::to_vec(&value).expect("serialises"));
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("serde_json parse + serialise: {:8.1} ms", ms(bare));
    for (label, form) in [
        ("full document", Form::Full),
        ("abbreviated", Form::Abbreviated),
    ] {
        let steps = fastest_filter(&body, form);
        println!(
            "filter, {label:<21} {:8.1} ms  ({:.2}x; parse {:.1}, facts {:.1}, render {:.1})",
            ms(steps.total()),
            ms(steps.total()) / ms(bare),
            ms(steps.parse),
            ms(steps.facts),
            ms(steps.render),
        );
    }
}
