//! `gatehouse-wasi-adapter [OUT]`: writes the WASI preview 1 *reactor* adapter
//! (for `wasm-tools component new --adapt wasi_snapshot_preview1=OUT`) to OUT,
//! or to standard output when OUT is not given.

use std::io::Write;

use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER as REACTOR;

const USAGE: &str = "usage: gatehouse-wasi-adapter [OUT]\n\
writes the WASI preview 1 reactor adapter (wasmtime 48's) to OUT, or to standard output";

fn main() {
    let out = std::env::args_os().nth(1);
    // An option is never taken for a file name.
    if out.as_ref().is_some_and(|o| o.to_string_lossy().starts_with('-')) {
        println!("{USAGE}");
        return;
    }
    let written = match out {
        Some(out) => std::fs::write(&out, REACTOR),
        None => std::io::stdout().lock().write_all(REACTOR),
    };
    if let Err(error) = written {
        eprintln!("gatehouse-wasi-adapter: {error}");
        std::process::exit(1);
    }
}
