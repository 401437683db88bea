#!/usr/bin/env python3
"""Rollout benchmark (issue: engine rollouts and day-two operations).

Starts the fake Kubernetes API server (`fake-kube`, workloads ready after 0 ms) and
`storeplane serve` (release builds), provisions N WooCommerce stores (default 200), uploads the
engine's next release (the test guest `guest-woo-upgrade`, 0.3.0: a new WordPress image, no
Ingress; three upgrade steps) and rolls it out to every store: a canary of 10, batches of 50,
`--in-flight` upgrades at once. Reports stores upgraded per minute (rollout start to completed),
control-plane CPU per upgraded store (helm rendering and storeplane itself) and peak RSS.

    bench/rollout-load.py [--stores 200] [--backend sqlite|postgres] [--concurrency 8]
                          [--in-flight 16]

Needs: release builds (done by this script), the wasm32-wasip2 target, helm
(.ci/install-helm), and PostgreSQL on 127.0.0.1:5432 for --backend postgres.
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("provision_load", os.path.join(ROOT, "bench/provision-load.py"))
provision_load = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(provision_load)
call, cpu_seconds, peak_rss_mb, wait_http = (provision_load.call, provision_load.cpu_seconds,
                                             provision_load.peak_rss_mb, provision_load.wait_http)


def upload(api, token, path):
    with open(path, "rb") as f:
        request = urllib.request.Request(f"{api}/admin/plugins", data=f.read(), method="POST")
    request.add_header("content-type", "application/wasm")
    request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=8, help="job workers")
    parser.add_argument("--in-flight", type=int, default=16, help="the rollout's maxInFlight")
    args = parser.parse_args()

    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "storeplane", "--bin", "storeplane",
         "-p", "storeplane-tests", "--bin", "fake-kube"],
        cwd=ROOT, check=True,
    )
    wasm_dir = os.path.join(ROOT, "target/bench-wasm")
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--target", "wasm32-wasip2",
         "-p", "guest-woo-upgrade", "--target-dir", wasm_dir],
        cwd=ROOT, check=True,
    )
    next_release = os.path.join(wasm_dir, "wasm32-wasip2/release/guest_woo_upgrade.wasm")
    helm = os.path.join(ROOT, ".tools/bin/helm")
    if not os.path.exists(helm):
        helm = shutil.which("helm") or sys.exit("helm not found: run .ci/install-helm")
    work = tempfile.mkdtemp(prefix="storeplane-rollout-bench-")
    kubeconfig = os.path.join(work, "kubeconfig")
    fake_port, api_port = 3996, 3995
    if args.backend == "sqlite":
        database = f"sqlite://{work}/bench.db"
    else:
        for sql in ("DROP DATABASE IF EXISTS storeplane_rollout_bench WITH (FORCE)",
                    "CREATE DATABASE storeplane_rollout_bench"):
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", sql, "postgres"], check=True)
        database = "postgres://postgres@127.0.0.1:5432/storeplane_rollout_bench"

    logs = open(os.path.join(work, "logs.txt"), "w")
    fake = subprocess.Popen(
        [os.path.join(ROOT, "target/release/fake-kube"), "--listen", f"127.0.0.1:{fake_port}",
         "--kubeconfig-out", kubeconfig, "--ready-after-ms", "0"],
        stdout=logs, stderr=logs,
    )
    wait_http(f"http://127.0.0.1:{fake_port}/version")
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
        user = call("POST", f"{api}/auth/register",
                    {"email": "bench@example.com", "username": "bench", "password": "bench-password-1"})
        token = user["token"]
        for i in range(args.stores):
            call("POST", f"{api}/stores", {"name": f"shop-{i}", "engine": "woocommerce"}, token)
        while call("GET", f"{api}/stores?status=ready&limit=1", token=token)["total"] < args.stores:
            time.sleep(0.2)
        upload(api, token, next_release)

        own_before, helm_before = cpu_seconds(host.pid)
        started = time.time()
        rollout = call("POST", f"{api}/admin/rollouts", {
            "engine": "woocommerce", "version": "0.3.0",
            "settings": {"canary": 10, "batchSize": 50, "maxInFlight": args.in_flight},
        }, token)["rollout"]
        while True:
            body = call("GET", f"{api}/admin/rollouts/{rollout['id']}", token=token)
            state = body["rollout"]["state"]
            if state != "running":
                break
            if time.time() - started > 1800:
                sys.exit("the rollout did not finish in 30 minutes")
            time.sleep(0.1)
        finished = time.time()
        own_after, helm_after = cpu_seconds(host.pid)
        counts = body["rollout"]["counts"]
        if state != "completed" or counts.get("upgraded") != args.stores:
            sys.exit(f"the rollout ended {state}: {counts} ({body['rollout'].get('reason')})")
        elapsed = finished - started
        own, helm_cpu = own_after - own_before, helm_after - helm_before
        print(f"rollout of {args.stores} stores ({args.backend}, {args.concurrency} workers, "
              f"{args.in_flight} in flight, canary 10, batches of 50)")
        print(f"all upgraded after {elapsed:.1f} s: {args.stores / elapsed * 60:.0f} stores upgraded/minute")
        print(f"CPU per upgraded store: {(own + helm_cpu) / args.stores * 1000:.0f} ms "
              f"(helm rendering {helm_cpu / args.stores * 1000:.0f} ms, "
              f"storeplane itself {own / args.stores * 1000:.0f} ms)")
        print(f"peak RSS of storeplane: {peak_rss_mb(host.pid):.1f} MB")
    finally:
        host.terminate()
        fake.terminate()
        host.wait(30)
        fake.wait(30)
        if args.backend == "postgres":
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c",
                            "DROP DATABASE IF EXISTS storeplane_rollout_bench WITH (FORCE)", "postgres"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
