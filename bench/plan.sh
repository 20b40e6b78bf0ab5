#!/usr/bin/env bash
# Plan benchmark: how `berth plan` scales with the size of the repository.
#
#   bench/plan.sh                    # N = 1000 and 10000
#   BENCH_SIZES="1000" bench/plan.sh # other sizes
#   BENCH_INSTANCES=0 bench/plan.sh  # leave out the 100 Instances (default 100, one port each)
#   BENCH_RUNS=5 BENCH_KEEP=1 ...    # hyperfine runs per measurement; keep the temp dir
#
# For each N it generates a directory repository with N Domains, N Routes (every 10th with auth),
# N/10 AuthPolicies (bearer, one sha256 each) and BENCH_INSTANCES Instances, spread over a handful
# of multi-document YAML files; checks it with `berth validate`; then measures with hyperfine
#   - `berth plan` against an empty state (prefix bN-empty:), and
#   - `berth plan` against the state `berth apply` left (prefix bN:), which must be
#     "0 to add, 0 to change, 0 to destroy",
# and peak RSS with /usr/bin/time -v. It also counts the Redis commands one plan issues (MONITOR).
# Target: 10,000 domains + 10,000 routes + 1,000 auth policies planned in < 1 s and < 200 MB.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/lib.sh"
sizes=(${BENCH_SIZES:-1000 10000})
instances="${BENCH_INSTANCES:-100}"
runs="${BENCH_RUNS:-5}"
target_ms=1000
target_mb=200

for tool in hyperfine redis-server redis-cli python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install hyperfine redis-server python3 time)" >&2; exit 1; }
done

work="$(mktemp -d)"   # default template, honours TMPDIR
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$work"; else echo "bench: kept $work" >&2; fi
}
trap cleanup EXIT INT TERM

echo "== building berth (release)" >&2
if ! (cd "$root" && release_build --product berth) >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2; echo "bench: build failed" >&2; exit 1
fi
grep -E "Build|error" "$work/build.log" >&2 || true
berth="$root/.build-release/release/berth"
revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- Sources 2>/dev/null || echo +dirty)"

# A private redis-server on a free loopback port.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" --daemonize no &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$port" ping >/dev/null
url="redis://127.0.0.1:$port/0"
export NO_COLOR=1
echo "== redis-server pid $redis_pid on $url; work dir $work" >&2

generate() {  # dir n instances
    python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, os, sys
out, n, instances = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
files = 4  # documents of each kind are spread over this many files
width = len(str(n))
def doc(kind, name, spec):
    return f"apiVersion: berth/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
def write(prefix, docs):
    for f in range(files):
        part = docs[f::files]
        if part:
            with open(os.path.join(out, f"{prefix}-{f}.yaml"), "w") as fh:
                fh.write("---\n".join(part))
domains, routes, policies, insts = [], [], [], []
for i in range(n):
    d = f"d{i:0{width}d}"
    domains.append(doc("Domain", d, f"  hosts: [{d}.example.test]\n  tls: none\n"))
    auth = f"  auth: a{i // 10:0{width}d}\n" if i % 10 == 0 else ""
    routes.append(doc("Route", f"r{i:0{width}d}",
                      f"  domain: {d}\n  path: /p{i:0{width}d}\n  to:\n    url: \"http://127.0.0.1:8081\"\n{auth}"))
for i in range(n // 10):
    sha = hashlib.sha256(f"token-{i}".encode()).hexdigest()
    policies.append(doc("AuthPolicy", f"a{i:0{width}d}", f"  bearer:\n    tokens:\n      - name: t\n        sha256: {sha}\n"))
for i in range(instances):
    insts.append(doc("Instance", f"i{i:03d}",
                     f"  runtime: docker\n  image: ghcr.io/example/app:1\n  ports:\n    - name: http\n      containerPort: 8080\n"))
write("domains", domains); write("routes", routes); write("auth", policies); write("instances", insts)
EOF
}

median_ms() { python3 -c 'import json,sys,statistics; r=json.load(open(sys.argv[1]))["results"][0]; print("%.0f" % (statistics.median(r["times"])*1000))' "$1"; }
peak_mb() {  # command... → peak RSS in MB (and the command's stdout in $work/last.out)
    /usr/bin/time -v "$@" >"$work/last.out" 2>"$work/time.err" || { cat "$work/time.err" >&2; return 1; }
    awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$work/time.err"
}

declare -A wall rss apply_s commands
for n in "${sizes[@]}"; do
    repo="$work/repo-$n"
    echo "== N=$n: generating $n domains, $n routes, $((n / 10)) auth policies, $instances instances" >&2
    generate "$repo" "$n" "$instances"
    echo "   $(ls "$repo" | wc -l) files, $(du -sh "$repo" | cut -f1)" >&2
    "$berth" validate --repo "$repo" >&2

    empty=(plan --repo "$repo" --redis "$url" --prefix "b$n-empty:")
    applied=(plan --repo "$repo" --redis "$url" --prefix "b$n:")

    echo "== N=$n: plan against an empty state" >&2
    hyperfine --warmup 1 --runs "$runs" --style basic --export-json "$work/plan-$n-empty.json" \
        "$berth ${empty[*]}" >&2
    wall[$n,empty]="$(median_ms "$work/plan-$n-empty.json")"
    rss[$n,empty]="$(peak_mb "$berth" "${empty[@]}")"
    grep -E "^Plan:" "$work/last.out" >&2 || true

    echo "== N=$n: apply once" >&2
    apply_start=$(date +%s.%N)
    "$berth" apply --repo "$repo" --redis "$url" --prefix "b$n:" | grep -E "^Plan:|Apply complete" >&2
    apply_s[$n]="$(python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$apply_start" "$(date +%s.%N)")"
    echo "   apply took ${apply_s[$n]} s" >&2

    echo "== N=$n: plan against the applied state" >&2
    "$berth" "${applied[@]}" >"$work/noop.out"
    if ! grep -q "0 to add, 0 to change, 0 to destroy" "$work/noop.out"; then
        echo "bench: plan after apply is not empty:" >&2; grep -E "^Plan:" "$work/noop.out" >&2 || tail -5 "$work/noop.out" >&2
        exit 1
    fi
    hyperfine --warmup 1 --runs "$runs" --style basic --export-json "$work/plan-$n-applied.json" \
        "$berth ${applied[*]}" >&2
    wall[$n,applied]="$(median_ms "$work/plan-$n-applied.json")"
    rss[$n,applied]="$(peak_mb "$berth" "${applied[@]}")"

    # Redis commands one plan issues (MONITOR logs every command the server executes).
    monitor_log="$work/monitor-$n.log"
    redis-cli -p "$port" MONITOR >"$monitor_log" &
    monitor_pid=$!
    sleep 0.3
    "$berth" "${applied[@]}" >/dev/null
    sleep 0.3
    kill "$monitor_pid" 2>/dev/null || true; wait "$monitor_pid" 2>/dev/null || true
    commands[$n]="$(grep -c '^[0-9]' "$monitor_log" || true)"
    echo "   Redis commands during one plan (N=$n): ${commands[$n]}: $(grep '^[0-9]' "$monitor_log" | awk '{print $4}' | tr -d '"' | sort | uniq -c | awk '{printf "%s×%s ", $2, $1}')" >&2
done

echo
echo "berth $revision, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $instances instances (one port each) in every repository"
printf "%-7s %-8s %14s %14s %12s %10s\n" N state "median wall ms" "peak RSS MB" "x vs N/10" "redis cmds"
for n in "${sizes[@]}"; do
    for state in empty applied; do
        ratio="-"
        small=$((n / 10))
        if [ -n "${wall[$small,$state]:-}" ]; then
            ratio="$(python3 -c "import sys; print('%.1fx' % (float(sys.argv[1]) / max(float(sys.argv[2]), 1)))" "${wall[$n,$state]}" "${wall[$small,$state]}")"
        fi
        cmds="-"; [ "$state" = applied ] && cmds="${commands[$n]}"
        printf "%-7s %-8s %14s %14s %12s %10s\n" "$n" "$state" "${wall[$n,$state]}" "${rss[$n,$state]}" "$ratio" "$cmds"
    done
done
for n in "${sizes[@]}"; do
    [ "$n" -ge 10000 ] || continue
    for state in empty applied; do
        ok_time=$([ "${wall[$n,$state]}" -lt "$target_ms" ] && echo met || echo MISSED)
        ok_mem=$(python3 -c "import sys; print('met' if float(sys.argv[1]) < float(sys.argv[2]) else 'MISSED')" "${rss[$n,$state]}" "$target_mb")
        echo "target N=$n $state: wall ${wall[$n,$state]} ms (< $target_ms ms: $ok_time), peak RSS ${rss[$n,$state]} MB (< $target_mb MB: $ok_mem)"
    done
done
for n in "${sizes[@]}"; do echo "apply (one run, empty → applied) N=$n: ${apply_s[$n]} s"; done
echo "(x vs N/10: median wall at N divided by median wall at N/10; 10.0x is linear. redis cmds: commands one plan sends, from MONITOR.)"
