#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: berth-proxy (without and with
# its access log), the bare SwiftNIO relay and nginx, each behind the same upstream and driven by
# wrk. Unlike req/s or CPU time, the count hardly moves from run to run (well under 1%), so a change
# worth a few hundred instructions shows; it ignores what an instruction costs (an atomic
# retain costs more than an add), so confirm a gain with bench/proxy.sh. The kernel's share (the
# socket calls, about three quarters of the CPU time here) is not counted.
#
#   bench/instructions.sh [seconds] [top]    # top: how many of berth-proxy's costliest functions to list (default 25)
#
# Needs: valgrind wrk nginx redis-server binutils (apt-get install valgrind wrk nginx-light redis-server binutils).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-6}
TOP=${2:-25}
for tool in valgrind callgrind_annotate callgrind_control wrk nginx redis-server strip; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install valgrind wrk nginx-light redis-server binutils" >&2; exit 1; }
done

echo "Building berth, berth-proxy and berth-bench-relay (release)…" >&2
release_build --product berth >&2
release_build --product berth-proxy >&2
release_build --product berth-bench-relay >&2
BIN=.build-release/release

WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# valgrind 3.19 cannot read the DWARF 5 debug info Swift writes: run copies without it (the
# symbol table stays, so functions keep their names).
for exe in berth-proxy berth-bench-relay; do strip -g -o "$WORK/$exe" "$BIN/$exe"; done

UP=$(free_port); RDS=$(free_port); BNL=$(free_port); BLG=$(free_port); RLY=$(free_port); NGX=$(free_port)
upstream_conf "$WORK" "$UP"
mkdir -p "$WORK/ngx"
nginx -c "$WORK/up/nginx.conf" -p "$WORK/up" & PIDS+=($!)
# nginx as a proxy, in one process (no master), so callgrind sees the worker.
cat > "$WORK/ngx/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; pid $WORK/ngx/nginx.pid; error_log $WORK/ngx/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; proxy_temp_path $WORK/ngx/tmp;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$NGX;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
redis-server --port "$RDS" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & PIDS+=($!)
sleep 0.5
apply_bench_route "$WORK" "$RDS" "$UP" "$BIN/berth"

# count name port command... : the command under callgrind; warm up, zero the counters, run wrk,
# dump, and divide the instructions of every thread by the requests wrk completed.
count() {
  local name=$1 port=$2; shift 2
  local out="$WORK/cg.$name"
  valgrind --tool=callgrind --callgrind-out-file="$out.%p" --dump-instr=no "$@" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do curl -fsS -o /dev/null "http://127.0.0.1:$port/small" 2>/dev/null && break; sleep 0.2; done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/small" || { echo "$name does not answer; see $WORK/$name.log" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
  wrk -t1 -c32 -d3s "http://127.0.0.1:$port/small" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local requests
  requests=$(wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$port/small" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 0.5
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local total=0 part
  for dump in "$out".*.1; do
    part=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1 }')
    total=$((total + part))
  done
  printf "%-13s %9d requests %9.0f instructions/request\n" "$name" "$requests" "$(awk -v t="$total" -v n="$requests" 'BEGIN { print t / n }')"
  echo "$requests" > "$out.requests"
}

echo
echo "wrk -t1 -c32 -d${DURATION}s against each under callgrind (user-space instructions only)"
count berth-nolog "$BNL" "$WORK/berth-proxy" --redis "redis://127.0.0.1:$RDS/0" --http "127.0.0.1:$BNL" --admin "127.0.0.1:$(free_port)" --threads 1 --no-access-log
count berth-proxy "$BLG" "$WORK/berth-proxy" --redis "redis://127.0.0.1:$RDS/0" --http "127.0.0.1:$BLG" --admin "127.0.0.1:$(free_port)" --threads 1
count nio-relay "$RLY" "$WORK/berth-bench-relay" "$RLY" "$UP"
count nginx "$NGX" nginx -c "$WORK/ngx/nginx.conf" -p "$WORK/ngx"

echo
echo "berth-proxy --no-access-log: the $TOP functions with the most instructions of their own, per request"
requests=$(cat "$WORK/cg.berth-nolog.requests")
for dump in "$WORK"/cg.berth-nolog.*.1; do callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null; done |
  awk -v n="$requests" '/^ *[0-9,]+ \(/ && /\?\?\?:|[a-z]:/ { v = $1; gsub(/,/, "", v); name = $0; sub(/^[^:]*:/, "", name); sub(/ \[.*$/, "", name); cost[name] += v }
    END { for (f in cost) printf "%8.0f  %s\n", cost[f] / n, substr(f, 1, 150) }' |
  grep -v "clone\|start_thread\|ThreadOps\|setupThread\|NIOThreadC" | sort -rn | head -"$TOP"
