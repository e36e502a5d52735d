//! The `gatehouse` binary: parses the command line and hands over to [`gatehouse::cli`].

use clap::Parser as _;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = gatehouse::cli::run(gatehouse::cli::Cli::parse()).await;
    std::process::exit(code);
}
