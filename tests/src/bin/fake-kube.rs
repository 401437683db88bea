//! `fake-kube`: the fake Kubernetes API server of the integration tests as a program, for
//! benchmarks and trying storeplane by hand without a cluster.
//!
//! `cargo run -p storeplane-tests --bin fake-kube -- --listen 127.0.0.1:0 --kubeconfig-out FILE
//! [--ready-after-ms N] [--fail-rate P]`; settings change at run time with
//! `POST /_fake/settings` (e.g. `{"outage": true}`), records are under `/_fake/`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use storeplane_tests::fake_kube::{self, FakeState, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "fake-kube",
    about = "In-memory fake Kubernetes API server for storeplane tests"
)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Where to write a kubeconfig pointing at this server.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Delay before workloads are ready.
    #[arg(long, default_value_t = 100)]
    ready_after_ms: u64,
    /// Share of requests failing transiently (0..1).
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        ready_after_ms: args.ready_after_ms,
        fail_rate: args.fail_rate,
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    if let Some(path) = &args.kubeconfig_out {
        std::fs::write(path, fake_kube::kubeconfig(addr))?;
    }
    eprintln!("fake-kube listening on http://{addr}");
    let state = Arc::new(FakeState::new(settings));
    axum::serve(listener, fake_kube::router(state)).await?;
    Ok(())
}
