#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ from small, valid
# inputs made by the release binary (a cut-down simulated data set, its pairs tables, the
# configs) plus a few hand-written records. Run once; the corpus the fuzzer grows is kept in
# git so CI's short runs start from what the long runs found.
set -euo pipefail
cd "$(dirname "$0")"
BIN="${PREFDISSECT_BIN:-${CARGO_TARGET_DIR:-../target}/release/prefdissect}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$BIN" simulate --out "$TMP/sim" --seed 1 >/dev/null
# Keep the first 40 samples: small seeds fuzz faster.
python3 - "$TMP/sim" "$TMP/tiny" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
n = 40
os.makedirs(f"{dst}/labels")
with open(f"{src}/resolved.jsonl") as f, open(f"{dst}/resolved.jsonl", "w") as g:
    for i, line in zip(range(n), f):
        g.write(line)
groups = json.load(open(f"{src}/query_aware_idxs.json"))
groups = {k: [i for i in v if i < n] for k, v in groups.items()}
json.dump({k: v for k, v in groups.items() if v}, open(f"{dst}/query_aware_idxs.json", "w"))
for judge in ["human", "gpt-4-1106-preview"]:
    labels = json.load(open(f"{src}/labels/{judge}.json"))
    json.dump(labels[:n], open(f"{dst}/labels/{judge}.json", "w"))
PY
"$BIN" convert --data "$TMP/tiny" --out "$TMP/pairs.parquet" >/dev/null
"$BIN" convert --data "$TMP/tiny" --out "$TMP/pairs.csv" >/dev/null
seed() { mkdir -p "corpus/$1"; cp "$2" "corpus/$1/$3"; }
# Targets whose first byte is a count: prefix it.
counted() { mkdir -p "corpus/$1"; { printf "\\x$(printf %02x "$2")"; cat "$3"; } > "corpus/$1/$4"; }
seed resolved "$TMP/tiny/resolved.jsonl" tiny
counted groups 40 "$TMP/tiny/query_aware_idxs.json" tiny
counted labels 40 "$TMP/tiny/labels/human.json" tiny
seed table_csv "$TMP/pairs.csv" tiny
seed table_parquet "$TMP/pairs.parquet" tiny
for c in ../configs/*.json; do seed config "$c" "$(basename "$c" .json)"; done
printf '{"A": -0.1, "B": -2.3}\n{"response_a": -1.5, "response_b": null}\n' > "$TMP/lp"
seed logprobs "$TMP/lp" records
printf '[{"A": -0.1, "B": -2.3}]' > "$TMP/lp2"
seed logprobs "$TMP/lp2" list
printf '{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "c", "rejected": "a"}\n' > "$TMP/rp"
seed rerank_pairs "$TMP/rp" two
printf '{"prompt": "p", "responses": ["a", "b", "c"]}\n' > "$TMP/rc"
seed rerank_candidates "$TMP/rc" one
printf '{"fingerprint": "f", "chunk_replicates": 5, "chunks": [{"index": 0, "replicates": 5, "flagged": 0, "kernel_gflop": 0.1, "seconds": 0.2}, {"replicates": 5, "flagged": 1, "kernel_gflop": 0.1, "seconds": 0.2}]}' > "$TMP/bm"
counted bootstrap_checkpoint 12 "$TMP/bm" two-chunks
python3 - > "$TMP/fb" <<'PY'
import json, struct
bits = lambda x: struct.unpack("<Q", struct.pack("<d", x))[0]
fit = [0] + [bits(0.1 * k) for k in range(5 * 29)] + [bits(0.9), bits(0.05), 0, 100, 1]
print(json.dumps({"backend": "cpu", "fits": fit, "calls": [10, 2, 1]}))
PY
seed fit_checkpoint "$TMP/fb" posterior-block
python3 - > "$TMP/fm" <<'PY'
import json, struct
f32 = lambda x: struct.unpack("<I", struct.pack("<f", x))[0]
d64 = lambda x: struct.unpack("<Q", struct.pack("<d", x))[0]
lane = [f32(0.01 * k) for k in range(29)] + [40, d64(1e-4), 1]
print(json.dumps({"backend": "cpu", "map_blocks": [[0, lane * 2], [3, lane]]}))
PY
seed fit_checkpoint "$TMP/fm" map-block
# resolve: corpus/resolve/two-pairs is hand-written (tests/resolve.rs has the same rules).
ls corpus | while read -r t; do echo "$t: $(ls "corpus/$t" | wc -l) seeds"; done
