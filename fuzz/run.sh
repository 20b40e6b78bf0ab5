#!/usr/bin/env bash
# Builds the libFuzzer harnesses and runs each for SECONDS (default 60), one after the other.
#   fuzz/run.sh [seconds]
# Working corpora grow in fuzz/corpus-work/<target>/ (seeded from fuzz/corpus/), crashes land in
# fuzz/artifacts/, full logs in fuzz/corpus-work/<target>.log. Exits 1 if any fuzzer found a crash.
# libFuzzer stops at the first crash; FUZZ_KEEP_GOING=1 runs it in fork mode, ignoring crashes,
# timeouts and OOMs (each still saved in fuzz/artifacts/) to look for more than one bug per run.
# FUZZ_FLAGS adds libFuzzer flags to every fuzzer (e.g. FUZZ_FLAGS=-use_value_profile=1).
# FUZZ_TARGETS="FuzzHTTPHead FuzzProxyProtocol" runs only those.
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

mkdir -p corpus-work artifacts
echo "building fuzzers (release, -sanitize=fuzzer,address)..." >&2
swift build -c release --package-path . --scratch-path .build \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xcc -fsanitize=fuzzer-no-link,address >corpus-work/build.log 2>&1 || { cat corpus-work/build.log >&2; exit 1; }
bin="$(swift build -c release --package-path . --scratch-path .build --show-bin-path)"

status=0
run() {  # target corpus-name [extra libFuzzer flags...]
    local target="$1" name="$2"; shift 2
    if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $target "* ]]; then return 0; fi
    local work="corpus-work/$name" log="corpus-work/$target.log"
    mkdir -p "$work"
    echo "running $target for ${seconds}s (log: fuzz/$log)..." >&2
    local rc=0
    local mode=()
    if [ -n "${FUZZ_KEEP_GOING:-}" ]; then mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi
    local started=$SECONDS marker="corpus-work/.$target.started"
    touch "$marker"
    # SWIFT_BACKTRACE=enable=no: let libFuzzer's handler report a trap (Swift's own backtracer
    # would take over the signal and can hang). Swift's runtime keeps caches that LeakSanitizer
    # would report as leaks; leaks are not what we hunt here.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" "$bin/$target" \
        -max_total_time="$seconds" -max_len=4096 -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target-" "${mode[@]}" ${FUZZ_FLAGS:-} "$@" \
        "$work" "corpus/$name" >"$log" 2>&1 || rc=$?
    local elapsed=$((SECONDS - started)) runs artifacts
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    # fork mode prints progress lines "#RUNS: cov: ..." instead of final stats
    [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9][0-9]*\):* .*/\1/p' "$log" | tail -1)"
    artifacts="$(find artifacts -name "$target-*" -newer "$marker" | sed 's/^/fuzz\//' | sort | tr '\n' ' ')"
    if [ -n "$artifacts" ] || [ "$rc" -ne 0 ]; then
        echo "$target: CRASH after ${runs:-?} runs in $elapsed s: ${artifacts:-no artifact (exit $rc)} (log: fuzz/$log)"
        status=1
    else
        echo "$target: ${runs:-?} runs in $elapsed s, no crash ($(ls "$work" | wc -l) files in fuzz/$work)"
    fi
}
run FuzzSpecLoader spec -dict=yaml.dict
run FuzzRouteTable routetable -dict=routetable.dict
run FuzzProxyProtocol proxyprotocol
run FuzzRouteMatcher matcher
run FuzzHTTPHead httphead -dict=http.dict
run FuzzJOSE jose -dict=jose.dict
exit $status
