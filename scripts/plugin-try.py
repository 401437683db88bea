#!/usr/bin/env python3
"""Try an engine plugin end to end without a cluster: provision one store with it against the
fake Kubernetes API server and print every setup step's command, output and result.

    scripts/plugin-try.py my_engine_engine.wasm [--options '{"size": "large"}']
                          [--exec-script 'PATTERN=EXIT[:STDERR]' ...]

Starts `fake-kube` (workloads ready after 200 ms) and `storeplane serve` on a private SQLite
database, registers an administrator, uploads and activates the plugin (validated as any
upload: the problems are printed when it is refused), creates a store with the options, waits
until it is `ready` or `failed`, then prints each command the host ran in the store's pods (in
order, with its exit code) and each setup step's audit event (its output, secrets masked).

The fake answers every command with exit 0 and `ok`. `--exec-script` scripts a command the way
a real container might fail: every command containing PATTERN exits with EXIT (and prints
STDERR), e.g. `--exec-script 'wp core install=1:Error: database connection failed'` to see
how the store reports a failing step. Exits 0 when the store became ready.

Needs `storeplane` and `fake-kube`: beside this script in a release archive, else a
checkout's debug builds (built when missing), else on the PATH (STOREPLANE_BIN and FAKE_KUBE_BIN
override); and helm (HELM_BIN, the checkout's `.tools/bin/helm`, or the PATH).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def call(method, url, body=None, token=None, raw=None, content_type="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", content_type)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        sys.exit(f"{method} {url} answered {err.code}: {body}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.1)
    sys.exit(f"{what} did not come up")


def exec_script(text):
    # The first `=EXIT` followed by `:` or the end: STDERR may hold `=` of its own.
    found = re.search(r"=(-?\d+)(?=:|$)", text, re.S)
    if not found or found.start() == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not PATTERN=EXIT[:STDERR]")
    stderr = text[found.end() + 1:]
    return {"pattern": text[:found.start()], "exit_code": int(found.group(1)), "stderr": stderr}


def binaries():
    """`storeplane` and `fake-kube`: each from STOREPLANE_BIN or FAKE_KUBE_BIN when set; else
    beside this script (the release archive's layout); else the checkout's debug builds (built
    when missing); else on the PATH."""
    names = ("storeplane", "fake-kube")
    chosen = [os.environ.get(var) for var in ("STOREPLANE_BIN", "FAKE_KUBE_BIN")]
    if all(chosen):
        return chosen
    here = os.path.dirname(os.path.abspath(__file__))
    beside = [os.path.join(here, name) for name in names]
    debug = [os.path.join(ROOT, "target/debug", name) for name in names]
    if all(os.access(path, os.X_OK) for path in beside):
        found = beside
    elif os.path.exists(os.path.join(ROOT, "Cargo.toml")):
        if not all(os.path.exists(path) for path in debug):
            print("building storeplane and fake-kube (debug; minutes the first time)...",
                  file=sys.stderr)
            subprocess.run(["cargo", "build", "--quiet", "-p", "storeplane", "--bin", "storeplane",
                            "-p", "storeplane-tests", "--bin", "fake-kube"], cwd=ROOT, check=True)
        found = debug
    else:
        found = [shutil.which(name) for name in names]
    result = [c or f for c, f in zip(chosen, found)]
    if not all(result):
        sys.exit("storeplane and fake-kube not found: set STOREPLANE_BIN and FAKE_KUBE_BIN, or "
                 "run this script from a release archive or a storeplane checkout")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wasm")
    parser.add_argument("--options", default="{}", help="the store's options (JSON)")
    parser.add_argument("--exec-script", type=exec_script, action="append", default=[],
                        help="PATTERN=EXIT[:STDERR]: commands containing PATTERN exit with EXIT")
    args = parser.parse_args()
    with open(args.wasm, "rb") as f:
        wasm = f.read()
    options = json.loads(args.options)

    storeplane, fake_kube = binaries()
    helm = os.environ.get("HELM_BIN") or os.path.join(ROOT, ".tools/bin/helm")
    if not os.path.exists(helm):
        helm = shutil.which("helm") or sys.exit(
            "helm not found: install helm 4 (a checkout's .ci/install-helm does) or set HELM_BIN")

    work = tempfile.mkdtemp(prefix="storeplane-try-")
    kubeconfig = os.path.join(work, "kubeconfig")
    logs = open(os.path.join(work, "logs.txt"), "w")
    fake = subprocess.Popen([fake_kube, "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig,
                             "--ready-after-ms", "200"], stdout=logs, stderr=logs)
    host = None
    try:
        wait_for("fake-kube", lambda: os.path.getsize(kubeconfig) > 0)
        with open(kubeconfig) as f:
            fake_url = next(line.split()[1] for line in f if "server:" in line)
        if args.exec_script:
            call("POST", f"{fake_url}/_fake/settings", {"exec_scripts": args.exec_script})
        port = free_port()
        env = dict(os.environ, DATABASE_URL=f"sqlite://{work}/try.db", DATA_DIR=f"{work}/data",
                   PORT=str(port), HOST="127.0.0.1", KUBECONFIG=kubeconfig, HELM_BIN=helm,
                   JWT_SECRET="plugin-try-secret-plugin-try-secret", LOG_LEVEL="warn",
                   JOB_POLL_INTERVAL_MS="100", POD_START_GRACE_MS="5000")
        host = subprocess.Popen([storeplane, "serve"], env=env, stdout=logs, stderr=logs)
        api = f"http://127.0.0.1:{port}/api/v1"
        wait_for("storeplane", lambda: urllib.request.urlopen(f"{api}/health/live", timeout=2))
        token = call("POST", f"{api}/auth/register", {
            "email": "author@example.com", "username": "author", "password": "plugin-try-password"})["token"]
        uploaded = call("POST", f"{api}/admin/plugins", raw=wasm, token=token,
                        content_type="application/wasm")
        plugin = uploaded.get("plugin", uploaded)
        engine, version = plugin["engine"], plugin["version"]
        call("POST", f"{api}/admin/plugins/{engine}/{version}/activate", {}, token)
        print(f"plugin {engine} {version} uploaded and activated")
        store = call("POST", f"{api}/stores", {"name": "try", "engine": engine, "options": options},
                     token)["store"]
        store_id = store["id"]
        print(f"store {store_id} ({json.dumps(options)}) provisioning...")
        deadline = time.time() + 600
        while store["status"] not in ("ready", "failed"):
            if time.time() > deadline:
                sys.exit("the store did not finish within 10 minutes")
            time.sleep(0.2)
            store = call("GET", f"{api}/stores/{store_id}", token=token)["store"]

        print("\ncommands run in the store's pods, in order:")
        for e in call("GET", f"{fake_url}/_fake/execs"):
            if e["namespace"] != f"store-{store_id}":
                continue
            result = f"exit {e['exit_code']}" if e["completed"] else "cut off"
            command = " ".join(e["command"]).replace("\n", "\n      ")
            print(f"  [{e['container']}] {command}\n      -> {result}")
        print("\nsetup steps (the store's audit log):")
        events = call("GET", f"{api}/stores/{store_id}/logs?limit=500", token=token)["logs"]
        for event in reversed(events):
            if event["action"] not in ("store.setup_step", "store.failed", "store.ready"):
                continue
            print(f"  {event['action']}: {event['message']}")
            details = event.get("details") or {}
            for stream in ("stdout", "stderr"):
                if details.get(stream, "").strip():
                    for line in details[stream].strip().splitlines():
                        print(f"      {stream}: {line}")
        print(f"\nresult: the store is {store['status']}"
              + (f": {store.get('failureReason')}" if store["status"] == "failed" else ""))
        return 0 if store["status"] == "ready" else 1
    finally:
        for process in (host, fake):
            if process:
                process.terminate()
                process.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
