#!/usr/bin/env bash
# Controller benchmark (issue 4): push-to-live latency and the cost of an idle pass.
#
#   bench/controller.sh                  # 15 pushes each way, 10k-route repository, 100 passes
#   BENCH_PUSHES=5 BENCH_ROUTES=1000 BENCH_PASSES=50 bench/controller.sh
#
# Runs the release `berth controller` and `berth-proxy` against a private redis-server, with a
# bare git repository as the watched remote and a small Python upstream, all on loopback:
#   1. webhook: commit a new route, `git push`, POST a signed /hooks/git; time from the push
#      returning to the first proxied request that gets 200 from the new route (target < 1 s median);
#   2. polling: the same with no webhook and --interval 2s (target < 3 s median);
#   3. idle passes: a repository with BENCH_ROUTES domains + routes (every 10th with auth),
#      applied once, then BENCH_PASSES passes with nothing changed: median pass time (from the
#      controller's pass_ms in status) and the controller's RSS after pass 1, 10, 50, 100
#      (target: < 1 s a pass, flat memory).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/lib.sh"
for tool in git redis-server python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install git redis-server python3)" >&2; exit 1; }
done
echo "== building berth and berth-proxy (release)" >&2
(cd "$root" && release_build --product berth >&2 && release_build --product berth-proxy >&2)
export BERTH_BIN="$root/.build-release/release"
export BENCH_REVISION="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- Sources 2>/dev/null || echo +dirty)"
exec python3 "$root/bench/controller_driver.py"
