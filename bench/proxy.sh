#!/usr/bin/env bash
# Throughput and latency of berth-proxy against nginx, haproxy and caddy, side by side in one run.
# Every proxy gets one worker thread and forwards to the same upstream (an nginx serving a tiny
# body and a 1 MiB file) with upstream keep-alive; wrk drives each in turn. Besides req/s and
# latency it prints each proxy's CPU time per request, which other load on the machine skews far
# less than req/s. One run moves by ±10% from the next on two shared cores, so the targets run in
# interleaved rounds: the table shows medians, and each ratio is taken within a round and given
# as its median and range.
#
#   bench/proxy.sh [duration-seconds] [connections] [rounds]
#
# Needs: nginx haproxy caddy wrk redis-server (apt-get install nginx-light haproxy caddy wrk redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
for tool in nginx haproxy caddy wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install nginx-light haproxy caddy wrk redis-server" >&2; exit 1; }
done

echo "Building berth and berth-proxy (release)…" >&2
release_build --product berth >&2
release_build --product berth-proxy >&2
release_build --product berth-bench-relay >&2
BIN=.build-release/release

WORK=$(mktemp -d)   # default template: /tmp/tmp.*
chmod 755 "$WORK"   # nginx workers run as nobody and must read the 1 MiB file
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UP=$(free_port); NGX=$(free_port); HAP=$(free_port); CAD=$(free_port); BER=$(free_port); ADM=$(free_port); RDS=$(free_port)
BNL=$(free_port); ADM2=$(free_port); NGXNB=$(free_port); RLY=$(free_port); NGXLOG=$(free_port)
NGXFWD=$(free_port); NGXFWDLOG=$(free_port)

# Upstream: nginx, one worker, tiny body and a 1 MiB file.
upstream_conf "$WORK" "$UP"
nginx -c "$WORK/up/nginx.conf" -p "$WORK/up" & PIDS+=($!); UP_PID=$!

# nginx as a proxy, with its default response buffering (what an nginx deployment runs; with
# `proxy_buffering off` nginx relays a 1 MiB body through one proxy_buffer_size buffer, a few
# KiB per read and write, and loses about half its /big throughput). For comparison, the same
# nginx with `proxy_buffering off` runs as nginx-nobuf, and one that writes its access log (its
# default: every request, combined format, to a file) as nginx-log: berth-proxy logs every request
# by default too, so nginx-log is its like-for-like peer and plain nginx that of berth-nolog.
# Plain nginx sends the upstream the client's headers and nothing more, while berth-proxy must
# also set X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host and X-Request-Id and
# keep Host (which the upstream then parses too). nginx-fwd is nginx configured to send the same
# headers, as an nginx in front of applications usually is, and nginx-fwd-log that nginx writing
# its access log: the peers doing berth-proxy's work, run on /small only.
FORWARDED='proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Real-IP $remote_addr;'
FORWARDED+=' proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $http_host; proxy_set_header X-Request-Id $request_id;'
for variant in ngx:$NGX: ngxnb:$NGXNB:"proxy_buffering off;" ngxlog:$NGXLOG:"access_log $WORK/ngxlog/access.log;" \
    ngxfwd:$NGXFWD:"$FORWARDED" ngxfwdlog:$NGXFWDLOG:"$FORWARDED access_log $WORK/ngxfwdlog/access.log;"; do
  IFS=: read -r dir port extra <<<"$variant"
  mkdir -p "$WORK/$dir"
  cat > "$WORK/$dir/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/$dir/nginx.pid; error_log $WORK/$dir/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  proxy_temp_path $WORK/$dir/tmp;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$port;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; $extra } } }
CONF
  nginx -c "$WORK/$dir/nginx.conf" -p "$WORK/$dir" & PIDS+=($!); eval "${dir^^}_PID=$!"
done

# haproxy, one thread.
cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend f
  bind 127.0.0.1:$HAP
  default_backend b
backend b
  http-reuse always
  server s1 127.0.0.1:$UP
CONF
haproxy -f "$WORK/haproxy.cfg" -db & PIDS+=($!); HAP_PID=$!

# caddy, one OS thread for Go code.
cat > "$WORK/Caddyfile" <<CONF
{
  admin off
  auto_https off
}
http://127.0.0.1:$CAD {
  reverse_proxy 127.0.0.1:$UP
}
CONF
GOMAXPROCS=1 caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 & PIDS+=($!); CAD_PID=$!

# berth-proxy: a private Redis, a one-route repository applied with berth, one event-loop thread.
redis-server --port "$RDS" --bind 127.0.0.1 --save "" --appendonly no >/dev/null & PIDS+=($!); RDS_PID=$!
sleep 0.5
apply_bench_route "$WORK" "$RDS" "$UP" "$BIN/berth"
# The default (every request logged to the Redis stream) and, for comparison with peers that log
# nothing here, one with --no-access-log.
"$BIN/berth-proxy" --redis "redis://127.0.0.1:$RDS/0" --http "127.0.0.1:$BER" --admin "127.0.0.1:$ADM" --threads 1 >"$WORK/berth.log" 2>&1 & PIDS+=($!); BER_PID=$!
"$BIN/berth-proxy" --redis "redis://127.0.0.1:$RDS/0" --http "127.0.0.1:$BNL" --admin "127.0.0.1:$ADM2" --threads 1 --no-access-log >"$WORK/berth-nolog.log" 2>&1 & PIDS+=($!); BNL_PID=$!

# The floor: a bare SwiftNIO TCP relay (one upstream connection per client connection, bytes
# copied both ways, no HTTP at all), so the table shows what NIO's channel machinery costs on
# its own and how much of berth-proxy's CPU is its own HTTP work.
"$BIN/berth-bench-relay" "$RLY" "$UP" & PIDS+=($!); RLY_PID=$!

for port in $UP $NGX $NGXNB $NGXLOG $NGXFWD $NGXFWDLOG $HAP $CAD $BER $BNL $RLY; do
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/small" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/small" || { echo "port $port does not answer" >&2; exit 1; }
done

# CPU per request: the processes doing a target's work (nginx's workers, not its master; for
# berth-proxy also the Redis that takes its access log), user + system time from /proc, divided
# by the requests wrk completed. Unlike req/s it hardly moves when other work shares the cores.
pids_of() {
  case "$1" in
    upstream) pgrep -P "$UP_PID" ;;
    nginx) pgrep -P "$NGX_PID" ;;
    nginx-nobuf) pgrep -P "$NGXNB_PID" ;;
    nginx-log) pgrep -P "$NGXLOG_PID" ;;
    nginx-fwd) pgrep -P "$NGXFWD_PID" ;;
    nginx-fwd-log) pgrep -P "$NGXFWDLOG_PID" ;;
    haproxy) echo "$HAP_PID" ;;
    caddy) echo "$CAD_PID" ;;
    berth-proxy) echo "$BER_PID $RDS_PID" ;;
    berth-nolog) echo "$BNL_PID" ;;
    nio-relay) echo "$RLY_PID" ;;
  esac
}
cpu_ticks() { local total=0; for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$total"; }
TICK=$(getconf CLK_TCK)
per_request() { awk -v t="$1" -v hz="$TICK" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }'; } # ticks requests
# The upstream's CPU per request too: it shares the cores, and what a proxy sends it (berth-proxy's
# five forwarding headers, say) is work the upstream does on every request. For the upstream's own
# row it is the same figure as the target's.
UP_WORKERS=$(pgrep -P "$UP_PID" | tr '\n' ' ')
run() { # name port path
  local pids; pids=$(pids_of "$1")
  local before; before=$(cpu_ticks $pids)
  local up_before; up_before=$(cpu_ticks $UP_WORKERS)
  local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$2$3")
  local after; after=$(cpu_ticks $pids)
  local up_after; up_after=$(cpu_ticks $UP_WORKERS)
  local rps p50 p99 errors requests cpu up_cpu
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_ms)
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu=$(per_request $((after - before)) "$requests")
  up_cpu=$(per_request $((up_after - up_before)) "$requests")
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$1 $3 $rps $p50 $p99 $cpu $up_cpu ${errors:-}"
}

RESULTS="$WORK/results"
: > "$RESULTS"
TARGETS=("upstream:$UP" "berth-proxy:$BER" "berth-nolog:$BNL" "nginx:$NGX" "nginx-log:$NGXLOG" "nginx-fwd:$NGXFWD" "nginx-fwd-log:$NGXFWDLOG"
         "nginx-nobuf:$NGXNB" "haproxy:$HAP" "caddy:$CAD" "nio-relay:$RLY")
# Targets run on /small only (their difference from nginx is in the request head).
small_only() { [[ "$1" == nginx-fwd* ]]; }
# Each round starts one target further down the list: whatever drifts within a round (the
# scheduler's placement of the processes on the two cores, Redis's stream growing to its cap)
# does not always favour the same target.
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round of $ROUNDS…" >&2
  for path in /small /big; do
    for index in "${!TARGETS[@]}"; do
      target=${TARGETS[$(( (index + round - 1) % ${#TARGETS[@]} ))]}
      [ "$path" = /big ] && small_only "${target%%:*}" && continue
      run "${target%%:*}" "${target##*:}" "$path" | sed "s/^/$round /" >> "$RESULTS"
    done
  done
done

# Values of column c (round is $1, name $2, path $3, req/s $4, p50 $5, p99 $6, cpu $7, upstream's
# cpu $8) for a name and path.
values() { awk -v n="$1" -v p="$2" -v c="$3" '$2==n && $3==p { print $c }' "$RESULTS"; }

echo
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s, one worker per proxy, on $(nproc) cores; median of $ROUNDS rounds"
printf "%-13s %-6s %10s %17s %9s %9s %11s %11s\n" target path "req/s" "(min-max)" "p50 ms" "p99 ms" "cpu us/req" "upstream's"
# berth-nolog = berth-proxy --no-access-log; nginx-log = nginx writing its access log to a file;
# nginx-fwd(-log) = nginx setting the forwarding headers berth-proxy sets (and logging);
# nginx-nobuf = nginx with proxy_buffering off;
# nio-relay = bare SwiftNIO TCP relay (no HTTP), the floor for any proxy built on SwiftNIO
for path in /small /big; do
  for target in "${TARGETS[@]}"; do
    name=${target%%:*}
    [ "$path" = /big ] && small_only "$name" && continue
    errors=$(awk -v n="$name" -v p="$path" '$2==n && $3==p && NF > 8 { for (i = 9; i <= NF; i++) printf "%s ", $i; print "" }' "$RESULTS" | sort -u | tr '\n' ' ')
    printf "%-13s %-6s %10.0f %17s %9s %9s %11s %11s %s\n" "$name" "$path" "$(values "$name" "$path" 4 | median)" \
      "($(values "$name" "$path" 4 | range %.0f))" "$(values "$name" "$path" 5 | median)" "$(values "$name" "$path" 6 | median)" \
      "$(values "$name" "$path" 7 | median)" "$(values "$name" "$path" 8 | median)" "$errors"
  done
done
echo
echo "berth-proxy relative to each peer, within each round (median (min-max); throughput, p99 lower is better, CPU per request lower is better,"
echo "and the upstream's CPU per request while it served that proxy):"
# ratio name peer path column: the per-round ratios of name's column to peer's.
ratios() { awk -v n="$1" -v q="$2" -v p="$3" -v c="$4" '$3==p && $2==n { own[$1] = $c } $3==p && $2==q { peer[$1] = $c }
  END { for (r in own) if (peer[r] > 0) printf "%.3f\n", own[r] / peer[r] }' "$RESULTS"; }
# ahead name peer path column: "k/n", the rounds in which name's column was above peer's.
ahead() { ratios "$@" | awk '$1 > 1 { k++ } END { printf "%d/%d", k, NR }'; }
# below name peer path column: "k/n", the rounds in which name's column was below peer's.
below() { ratios "$@" | awk '$1 < 1 { k++ } END { printf "%d/%d", k, NR }'; }
for berth in berth-proxy berth-nolog nio-relay; do
  for path in /small /big; do
    for peer in nginx nginx-log nginx-fwd nginx-fwd-log haproxy caddy; do
      [ "$berth" = nio-relay ] && [ "$peer" != nginx ] && continue
      [ "$path" = /big ] && small_only "$peer" && continue
      # Each berth-proxy against the nginx that logs as it does.
      case "$berth:$peer" in berth-proxy:nginx | berth-proxy:nginx-fwd | berth-nolog:nginx-log | berth-nolog:nginx-fwd-log) continue ;; esac
      printf "  %-11s %-6s vs %-13s throughput x%.2f (%s, ahead in %s)  p99 x%.2f (lower in %s)  cpu/req x%.2f  upstream's x%.2f\n" "$berth" "$path" "$peer" \
        "$(ratios "$berth" "$peer" "$path" 4 | median)" "$(ratios "$berth" "$peer" "$path" 4 | range %.2f)" \
        "$(ahead "$berth" "$peer" "$path" 4)" \
        "$(ratios "$berth" "$peer" "$path" 6 | median)" "$(below "$berth" "$peer" "$path" 6)" "$(ratios "$berth" "$peer" "$path" 7 | median)" \
        "$(ratios "$berth" "$peer" "$path" 8 | median)"
    done
  done
done
