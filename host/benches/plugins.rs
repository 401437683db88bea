//! Plugin host benchmark: `cargo bench -p storeplane --bench plugins`.
//!
//! A plain harness (criterion reports means and confidence intervals, but the targets here are
//! a median and a p99, so every sample is kept and sorted). Reports:
//! - `plan()` end to end (fresh store + instantiate + call + drop + host checks) for both engines;
//! - loading a component: compiling from wasm vs deserializing from the artifact cache;
//! - throughput of concurrent `plan()` calls on 1 and 2 threads.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use storeplane::plugins::{Limits, LoadSource, PluginRuntime, builtin, samples, validate};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{name:<44} n={:<6} median {:>10.1?}  p99 {:>10.1?}  min {:>10.1?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[0]
    );
}

fn main() {
    let runtime = Arc::new(PluginRuntime::new(Limits::default(), None).expect("runtime"));
    println!(
        "storeplane plugin host benchmark ({} cores available)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    for engine in ["woocommerce", "medusa"] {
        let wasm = builtin::wasm(engine).expect("built-in");
        let component = runtime.load(wasm).expect("load");
        let info = component.describe(&runtime).expect("describe");
        let spec = samples::sample_specs(&info).remove(0);
        for _ in 0..200 {
            component.plan(&runtime, &spec).expect("warm-up");
        }
        let samples: Vec<Duration> = (0..5_000)
            .map(|_| {
                let started = Instant::now();
                let plan = component.plan(&runtime, &spec).expect("plan");
                assert!(validate::check_plan(&info, &spec, &plan).is_empty());
                started.elapsed()
            })
            .collect();
        report(
            &format!("plan() end to end, {engine} ({} KB)", wasm.len() / 1024),
            samples,
        );
    }

    let wasm = builtin::wasm("woocommerce").expect("built-in");
    let cold: Vec<Duration> = (0..10)
        .map(|_| {
            let fresh = PluginRuntime::new(Limits::default(), None).expect("runtime");
            let started = Instant::now();
            fresh.load(wasm).expect("compile");
            started.elapsed()
        })
        .collect();
    report("load: compile from wasm", cold);

    let cache = tempfile::tempdir().expect("tempdir");
    PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf()))
        .expect("runtime")
        .load(wasm)
        .expect("fill cache");
    let cached: Vec<Duration> = (0..200)
        .map(|_| {
            let fresh = PluginRuntime::new(Limits::default(), Some(cache.path().to_path_buf()))
                .expect("runtime");
            let started = Instant::now();
            let component = fresh.load(wasm).expect("from cache");
            let elapsed = started.elapsed();
            assert_eq!(component.load_source(), LoadSource::Cache);
            elapsed
        })
        .collect();
    report("load: from artifact cache (verify + deserialize)", cached);

    let component = Arc::new(runtime.load(wasm).expect("load"));
    let spec = samples::sample_spec("5a3e0c1b", serde_json::json!({}), true);
    // Throughput on 1 and 2 threads, measured in alternating 2-second windows (1, 2, 1, 2, …)
    // so that a noisy neighbour on a shared machine hits both alike; the medians are reported.
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..10 {
        let threads = 1 + round % 2;
        let window = Duration::from_secs(2);
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (runtime, component, spec) =
                    (Arc::clone(&runtime), Arc::clone(&component), spec.clone());
                std::thread::spawn(move || {
                    let mut calls = 0u64;
                    while started.elapsed() < window {
                        component.plan(&runtime, &spec).expect("plan");
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let calls: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
        rates[threads - 1].push(calls as f64 / started.elapsed().as_secs_f64());
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (one, two) = (median(&mut rates[0]), median(&mut rates[1]));
    for (threads, rate) in [(1, one), (2, two)] {
        println!(
            "{:<44} {:>8.0} calls/s (median of 5 windows)",
            format!("throughput, {threads} thread(s), woocommerce"),
            rate
        );
    }
    println!(
        "{:<44} {:>8.2}x",
        "throughput, 2 threads / 1 thread",
        two / one
    );
}
