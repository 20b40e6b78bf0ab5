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
