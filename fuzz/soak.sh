#!/usr/bin/env bash
# Long run of fuzz targets, one after the other, each a single in-process
# libFuzzer run (one job: the machine may be shared; `-jobs=1` would move
# the output into fuzz-0.log): `fuzz/soak.sh SECONDS [TARGET...]` (default: every
# target). Builds the targets once, copies the binaries aside (so editing
# the sources meanwhile does not disturb the queue), seeds fuzz/corpus with
# seed.sh and runs each target for SECONDS on its working corpus. Prints one
# summary line per target, with libFuzzer's final numbers:
#   target  execs  cov  ft  crashes  corpus-files
# Full logs: fuzz/soak-logs/<target>.log; crashing inputs in
# fuzz/artifacts/<target>/.
set -uo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir"
seconds=${1:-600}
shift || true
targets=${*:-$(cargo +nightly fuzz list)}

cargo +nightly fuzz build -O >/dev/null || exit 1
bin=$(mktemp -d)
for t in $targets; do
    cp "target/x86_64-unknown-linux-gnu/release/$t" "$bin/" || exit 1
done
./seed.sh >/dev/null || exit 1
mkdir -p soak-logs
for t in $targets; do
    mkdir -p "artifacts/$t" "corpus/$t"
    log="soak-logs/$t.log"
    "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=$(find "artifacts/$t" -type f | wc -l)
    files=$(find "corpus/$t" -type f | wc -l)
    echo "$t execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} rc=$rc artifacts=$crashes corpus=$files"
done
rm -rf "$bin"
