#!/bin/sh
# Instructions per packet for each `count` operation (callgrind; run from
# tools/bench after `cargo build --profile bench --example count`, which builds into target/release). Each operation
# runs with 020000 and 120000 packets (same argument length, so the same stack layout); the difference removes the setup.
# Usage: ./count.sh [operation...]   (default: every operation)
set -e
BIN=target/release/examples/count
OPS="$*"
[ -n "$OPS" ] || OPS=$($BIN list)
for op in $OPS; do
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN "$op" 020000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN "$op" 120000 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "$op $(( (b - a) / 100000 ))"
done
