#!/usr/bin/env bash
# Replaces the checked-in seeds of TARGET (corpus/fuzz/TARGET/) with the
# minimised working corpus: runs `cargo fuzz cmin` on fuzz/corpus/TARGET,
# then copies it over, keeping seed-* names and every regress-* file
# (crash reproducers are never dropped); other files become min-<hash>.
# `keep.sh TARGET MAX_BYTES` first drops working-corpus files larger than
# MAX_BYTES (not seeds or regressions), to keep the checked-in corpus small
# (pcap_file: 2048).
set -euo pipefail
fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
t=$1
max=${2:-}
cd "$fuzz_dir"
if [ -n "$max" ]; then
    find "corpus/$t" -type f -size +"$max"c ! -name 'seed-*' ! -name 'regress-*' -delete
fi
cargo +nightly fuzz cmin -O "$t" "corpus/$t" >/dev/null 2>&1
dest="$root/corpus/fuzz/$t"
mkdir -p "$dest"
find "$dest" -type f ! -name 'regress-*' -delete
for f in "corpus/$t"/*; do
    name=$(basename "$f")
    case "$name" in
        regress-*) ;;
        seed-* | find-* | min-*) cp "$f" "$dest/$name" ;;
        *) cp "$f" "$dest/min-${name:0:16}" ;;
    esac
done
echo "corpus/fuzz/$t: $(find "$dest" -type f | wc -l) files, $(cat "$dest"/* | wc -c) bytes"
