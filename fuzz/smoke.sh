#!/usr/bin/env bash
# Short fuzz run of every target (CI smoke test): seeds the working corpus
# (fuzz/corpus, gitignored) with seed.sh, then runs each target for its
# share of the budget below (about 20 s each, 200 s in all; FUZZ_SECONDS
# sets one value for every target) and fails on any crash, leak, timeout
# or out-of-memory. Crashing inputs land in fuzz/artifacts/<target>/; minimise
# one with `cargo +nightly fuzz tmin <target> <file>` and keep it in
# corpus/fuzz/<target>/ as a regression-* file.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir"
# Seconds per target: slow execs (sockets, whole simulations) get more,
# targets that saturate quickly get less.
seconds_for() {
    if [ -n "${FUZZ_SECONDS:-}" ]; then
        echo "$FUZZ_SECONDS"
        return
    fi
    case "$1" in
        differential) echo 30 ;;
        topic | peer) echo 15 ;;
        *) echo 20 ;;
    esac
}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it (nightly toolchain)"
    cargo +nightly install cargo-fuzz --locked
fi

./seed.sh
targets=$(cargo +nightly fuzz list)
echo "building the fuzz targets:" $targets
cargo +nightly fuzz build -O >/dev/null

status=0
for t in $targets; do
    seconds=$(seconds_for "$t")
    log=$(mktemp)
    # libFuzzer writes new inputs into the first corpus directory only.
    if cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz $t: ok, ${execs:-?} execs in ${seconds}s, ${cov:-cov: ?}"
    else
        echo "fuzz $t: FAILED"
        tail -n 40 "$log"
        status=1
    fi
    rm -f "$log"
done
exit $status
