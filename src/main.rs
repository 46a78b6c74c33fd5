//! The `frontdesk` binary: parse the command line, install the TLS provider, run.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the webhook path allocates for every request (headers, body, parse), and glibc's
/// allocator showed as a tenth of its CPU in `bench ingest`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    frontdesk::install_crypto_provider();
    frontdesk::cli::exit_quietly_on_broken_pipe();
    let cli = frontdesk::cli::Cli::parse();
    match frontdesk::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", frontdesk::cli::render_error(&error));
            ExitCode::FAILURE
        }
    }
}
