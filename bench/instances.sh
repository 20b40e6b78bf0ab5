#!/usr/bin/env bash
# Instance benchmark (issue 6): time from apply to the first request served by a new instance
# (container and process), and failed requests during a rolling replace of 3 replicas under load.
#
#   bench/instances.sh                       # 5 runs of each, release build
#   BENCH_RUNS=3 BERTH_BIN=.build/debug bench/instances.sh
#
# Runs `berth controller` (docker and process runtimes) and `berth-proxy` against a private
# redis-server and the Docker daemon at $DOCKER_HOST (default /var/run/docker.sock; start one with
# `dockerd --storage-driver=vfs &`), with a busybox image imported there, all on loopback:
#   1. container: write an Instance (busybox httpd, health /healthz) and its Route, `berth sync`,
#      then time until the proxy first answers 200 from it;
#   2. process: the same with a python3 server (`runtime: process`);
#   3. rolling replace: 3 container replicas behind the proxy, `wrk -t1 -c8` for 20 s, the image's
#      VERSION changed (a template change: replace) 4 s in; counts non-2xx answers and socket errors
#      (target: zero) and how long the replace took.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/lib.sh"
for tool in redis-server python3 wrk docker; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install redis-server python3 wrk docker.io)" >&2; exit 1; }
done
docker version >/dev/null 2>&1 || { echo "bench: no Docker daemon answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; start one: dockerd --storage-driver=vfs &" >&2; exit 1; }
if [ -z "${BERTH_BIN:-}" ]; then
    echo "== building berth and berth-proxy (release)" >&2
    (cd "$root" && release_build --product berth >&2 && release_build --product berth-proxy >&2)
    export BERTH_BIN="$root/.build-release/release"
fi
export BERTH_BIN="$(cd "$BERTH_BIN" && pwd)"
export BENCH_REVISION="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- Sources 2>/dev/null || echo +dirty)"
exec python3 "$root/bench/instances_driver.py"
