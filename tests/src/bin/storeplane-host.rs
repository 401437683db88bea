//! The `storeplane` command line, built inside the test crate so integration tests can run it
//! as a real child process (`CARGO_BIN_EXE_storeplane-host`): killed with SIGKILL, restarted,
//! run twice against one database.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    storeplane::cli::main().await
}
