//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse::run`].

use std::io::IsTerminal as _;

use clap::Parser as _;

fn main() {
    tune_allocator();
    let cli = gatehouse::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(cli.default_log_level())),
        )
        // Colour codes only where a terminal shows them, not in log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().expect("starting the async runtime");
    let code = runtime.block_on(gatehouse::run(cli));
    // Exit without waiting for background work (an OSV sync, say).
    runtime.shutdown_background();
    std::process::exit(code);
}

/// glibc's defaults hold on to memory a proxy frees: after the first big buffer
/// (a packument is tens of megabytes) it raises its mmap threshold, so later
/// ones come from arenas that keep their pages, and it makes up to 8 arenas per
/// core for the compile and blocking threads. A fixed 1 MiB threshold returns
/// big buffers to the system when they are freed, and two arenas (one per
/// async worker on a small machine) keep fragmentation down.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets allocator parameters; it runs before any
    // other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
