#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (gitignored) with seeds for `cargo fuzz run`:
#   - every corpus/packets/*.hex (a `# version=V from=F expect=E : ...` line,
#     then hex bytes), prefixed with what each target reads first:
#       decode:    the selector byte  version_index + 3 * from_index
#                  (versions 3.1, 3.1.1, 5; from any/none, client, server)
#       stream:    that selector, then 0x00 0x05 (one chunk size: 5 bytes)
#       roundtrip: the bytes as they are (ArbitraryPacket entropy)
#   - every file kept in corpus/fuzz/<target>/ (minimised finds, seeds,
#     regression inputs).
# The same conversion is replayed by crates/codec/tests/fuzz_corpus.rs.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$fuzz_dir")
out="$fuzz_dir/corpus"
targets=(decode stream roundtrip topic agree model pcap_file pcap_reorder differential peer)

for t in "${targets[@]}"; do
    mkdir -p "$out/$t"
done

byte() { printf "$(printf '\\x%02x' "$1")"; }

n=0
for f in "$root"/corpus/packets/*.hex; do
    [ -e "$f" ] || continue
    header=$(head -n 1 "$f")
    version=$(sed -n 's/.*version=\([^ ]*\).*/\1/p' <<<"$header")
    from=$(sed -n 's/.*from=\([^ ]*\).*/\1/p' <<<"$header")
    case "$version" in
        3.1 | 3 | 31) vi=0 ;;
        3.1.1 | 4 | 311) vi=1 ;;
        5 | 5.0 | 50) vi=2 ;;
        *) echo "$f: unknown version '$version'" >&2; exit 1 ;;
    esac
    case "$from" in
        "" | any) fi=0 ;;
        client) fi=1 ;;
        server) fi=2 ;;
        *) echo "$f: unknown from '$from'" >&2; exit 1 ;;
    esac
    sel=$((vi + 3 * fi))
    name=$(basename "$f" .hex)
    bin=$(mktemp)
    tail -n +2 "$f" | tr -d ' \t\r\n' | xxd -r -p >"$bin"
    { byte "$sel"; cat "$bin"; } >"$out/decode/$name"
    { byte "$sel"; byte 0; byte 5; cat "$bin"; } >"$out/stream/$name"
    cp "$bin" "$out/roundtrip/$name"
    cp "$bin" "$out/agree/$name"
    rm -f "$bin"
    n=$((n + 1))
done

for t in "${targets[@]}"; do
    if [ -d "$root/corpus/fuzz/$t" ]; then
        cp "$root/corpus/fuzz/$t"/* "$out/$t/" 2>/dev/null || true
    fi
done

echo "seeded from $n corpus/packets cases:"
for t in "${targets[@]}"; do
    echo "  fuzz/corpus/$t: $(find "$out/$t" -type f | wc -l) files"
done
