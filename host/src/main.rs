//! The `storeplane` binary; the command line lives in [`storeplane::cli`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    storeplane::cli::main().await
}
