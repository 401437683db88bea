#!/usr/bin/env python3
"""Provisioning benchmark (issue: provisioning on Kubernetes).

Starts the fake Kubernetes API server (`fake-kube`, workloads ready after 0 ms) and
`storeplane serve` (release builds), creates N stores (default 200, WooCommerce and Medusa
alternating) for one tenant, and waits until all are ready. Reports:

  * stores/minute end to end (first create to last ready);
  * control-plane CPU per store, split into helm rendering (CPU of the helm child
    processes) and the rest (the storeplane process itself), from /proc/<pid>/stat;
  * peak RSS of the storeplane process (VmHWM);
  * ready-detection latency: from the moment the fake cluster marked a store's last workload
    ready to the first setup exec in that store (p50/p95/max) -- the watch path.

    bench/provision-load.py [--stores 200] [--backend sqlite|postgres] [--concurrency 8]
                            [--ready-after-ms 0] [--fake-kube PATH]

--fake-kube runs another build of the fake API server against the same host (e.g. an earlier
commit's, to measure what a change to the fake costs in one session on one machine).

Needs: a release build (`cargo build --release -p storeplane --bin storeplane -p
storeplane-tests --bin fake-kube`, done by this script), helm (.ci/install-helm), and
PostgreSQL on 127.0.0.1:5432 for --backend postgres.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def call(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def cpu_seconds(pid):
    """(own user+system, waited-for children user+system) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime) / TICKS, (cutime + cstime) / TICKS


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return 0.0


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:  # noqa: BLE001 - any failure means "not up yet"
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ready-after-ms", type=int, default=0,
                        help="delay before the fake cluster's workloads are ready (0: at once)")
    parser.add_argument("--fake-kube", default=os.path.join(ROOT, "target/release/fake-kube"),
                        help="the fake API server binary (default: this checkout's release build)")
    args = parser.parse_args()

    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "storeplane", "--bin", "storeplane",
         "-p", "storeplane-tests", "--bin", "fake-kube"],
        cwd=ROOT, check=True,
    )
    helm = os.path.join(ROOT, ".tools/bin/helm")
    if not os.path.exists(helm):
        helm = shutil.which("helm") or sys.exit("helm not found: run .ci/install-helm")
    work = tempfile.mkdtemp(prefix="storeplane-bench-")
    kubeconfig = os.path.join(work, "kubeconfig")
    fake_port, api_port = 3998, 3997
    if args.backend == "sqlite":
        database = f"sqlite://{work}/bench.db"
    else:
        for sql in ("DROP DATABASE IF EXISTS storeplane_provision_bench WITH (FORCE)",
                    "CREATE DATABASE storeplane_provision_bench"):
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", sql, "postgres"], check=True)
        database = "postgres://postgres@127.0.0.1:5432/storeplane_provision_bench"

    logs = open(os.path.join(work, "logs.txt"), "w")
    fake = subprocess.Popen(
        [args.fake_kube, "--listen", f"127.0.0.1:{fake_port}",
         "--kubeconfig-out", kubeconfig, "--ready-after-ms", str(args.ready_after_ms)],
        stdout=logs, stderr=logs,
    )
    fake_url = f"http://127.0.0.1:{fake_port}"
    wait_http(f"{fake_url}/version")
    env = dict(os.environ, DATABASE_URL=database, DATA_DIR=f"{work}/data", PORT=str(api_port),
               HOST="127.0.0.1", KUBECONFIG=kubeconfig, HELM_BIN=helm, LOG_LEVEL="warn",
               JWT_SECRET="bench-secret-bench-secret-bench-secret", RATE_LIMIT_MAX="0",
               LOGIN_RATE_LIMIT_MAX="0", REGISTER_RATE_LIMIT_MAX="0",
               MAX_STORES_PER_USER="100000", STORE_CREATION_COOLDOWN_MS="0",
               PROVISIONING_CONCURRENCY=str(args.concurrency), JOB_POLL_INTERVAL_MS="200")
    host = subprocess.Popen([os.path.join(ROOT, "target/release/storeplane"), "serve"],
                            env=env, stdout=logs, stderr=logs)
    api = f"http://127.0.0.1:{api_port}/api/v1"
    try:
        wait_http(f"{api}/health")
        own_before, helm_before = cpu_seconds(host.pid)
        user = call("POST", f"{api}/auth/register",
                    {"email": "bench@example.com", "username": "bench", "password": "bench-password-1"})
        token = user["token"]
        started = time.time()
        ids = []
        for i in range(args.stores):
            engine = "woocommerce" if i % 2 == 0 else "medusa"
            created = call("POST", f"{api}/stores", {"name": f"shop-{i}", "engine": engine}, token)
            ids.append(created["store"]["id"])
        created_at = time.time()
        while True:
            page = call("GET", f"{api}/stores?status=ready&limit=1", token=token)
            failed = call("GET", f"{api}/stores?status=failed&limit=1", token=token)
            if failed["total"]:
                sys.exit(f"a store failed: {failed}")
            ready = page["total"]
            if ready >= args.stores:
                break
            if time.time() - started > 1800:
                sys.exit(f"only {ready} of {args.stores} ready after 30 minutes")
            time.sleep(0.05)
        finished = time.time()
        own_after, helm_after = cpu_seconds(host.pid)
        rss = peak_rss_mb(host.pid)

        marks = call("GET", f"{fake_url}/_fake/ready-marks")
        execs = call("GET", f"{fake_url}/_fake/execs")
        last_ready = {}
        for mark in marks:
            last_ready[mark["namespace"]] = max(last_ready.get(mark["namespace"], 0), mark["at_ms"])
        first_exec = {}
        for e in execs:
            ns = e["namespace"]
            first_exec[ns] = min(first_exec.get(ns, e["started_ms"]), e["started_ms"])
        latencies = sorted(first_exec[ns] - last_ready[ns] for ns in first_exec if ns in last_ready)

        elapsed = finished - started
        own, helm_cpu = own_after - own_before, helm_after - helm_before
        print(f"stores: {args.stores} ({args.backend}, {args.concurrency} workers, "
              f"workloads ready after {args.ready_after_ms} ms)")
        print(f"creating took {created_at - started:.1f} s; all ready after {elapsed:.1f} s")
        print(f"throughput: {args.stores / elapsed * 60:.0f} stores/minute")
        print(f"CPU per store: {(own + helm_cpu) / args.stores * 1000:.0f} ms "
              f"(helm rendering {helm_cpu / args.stores * 1000:.0f} ms, "
              f"storeplane itself {own / args.stores * 1000:.0f} ms)")
        print(f"peak RSS of storeplane: {rss:.1f} MB")
        if latencies:
            p50 = statistics.median(latencies)
            p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
            print(f"ready -> setup started: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]} ms "
                  f"({len(latencies)} stores)")
    finally:
        host.terminate()
        fake.terminate()
        host.wait(30)
        fake.wait(30)
        if args.backend == "postgres":
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c",
                            "DROP DATABASE IF EXISTS storeplane_provision_bench WITH (FORCE)", "postgres"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
