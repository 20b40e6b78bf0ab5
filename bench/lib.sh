# Helpers the benchmarks share (sourced by every script in bench/).

# The production build (README, "Building for production"), in .build-release: release, with
# Swift's run-time exclusivity checks off. Every bench script builds with exactly these flags, so
# none of them throws away another's build. Run from the package root.
release_build() { swift build -c release --scratch-path .build-release -Xswiftc -enforce-exclusivity=unchecked "$@"; }

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A wrk latency (`812.00us`, `1.53ms`, `2.01s`) in milliseconds.
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v=v/1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v=v*1000 }; printf "%.3f", v }'; }
# Median of the numbers on stdin (0 when there are none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# "lo-hi" of the numbers on stdin, each printed with the printf format $1 (e.g. %.2f).
range() { sort -g | awk -v f="$1" 'NR==1 {lo=$1} {hi=$1} END {printf f "-" f, lo, hi}'; }

# upstream_conf WORK PORT: the upstream every proxy bench forwards to, an nginx with one worker
# serving a tiny body at /small and a 1 MiB file at /big; writes WORK/up/nginx.conf and WORK/www/big.
upstream_conf() {
  mkdir -p "$1/up" "$1/www"
  head -c 1048576 /dev/urandom > "$1/www/big"
  cat > "$1/up/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $1/up/nginx.pid; error_log $1/up/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$2;
    location = /small { return 200 "hello from upstream\n"; }
    location = /big { root $1/www; try_files /big =404; } } }
CONF
}

# apply_bench_route WORK REDIS_PORT UPSTREAM_PORT BERTH: a one-route repository (host 127.0.0.1,
# every path to the upstream) applied with berth to the Redis on REDIS_PORT.
apply_bench_route() {
  mkdir -p "$1/repo"
  cat > "$1/repo/edge.yaml" <<YAML
apiVersion: berth/v1
kind: Route
metadata: {name: bench}
spec:
  hosts: [127.0.0.1]
  to: {url: "http://127.0.0.1:$3"}
YAML
  "$4" apply --repo "$1/repo" --redis "redis://127.0.0.1:$2/0" >/dev/null
}
