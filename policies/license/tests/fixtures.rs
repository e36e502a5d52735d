//! Runs every case in `fixtures/` (the `gatehouse policy test` format).
#![cfg(not(target_arch = "wasm32"))]

#[test]
fn fixtures() {
    gatehouse_sdk::testing::run_fixtures::<license::License>(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures"
    )));
}
