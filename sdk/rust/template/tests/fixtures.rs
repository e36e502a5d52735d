//! Runs the shared example fixture suite (`sdk/example/fixtures`) natively.
#![cfg(not(target_arch = "wasm32"))]

#[test]
fn fixtures() {
    gatehouse_sdk::testing::run_fixtures::<gatehouse_example::Example>(std::path::Path::new(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../example/fixtures"),
    ));
}
