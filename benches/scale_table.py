#!/usr/bin/env python3
"""A synthetic pairs table far beyond the paper's size, for the scale run of issue 17.

    python3 benches/scale_table.py --pairs 1000000 --properties 64 --judges 100 --groups 50 \
        --out /var/tmp/scale/pairs.csv

Writes a CSV pairs table (docs/formats.md): `id`, `groups` (each pair in group `g<r mod G>` and,
for half the pairs, one more random group, so groups overlap), `property:p1` … (signs −1/0/+1;
the last property real-valued), `label:j000` … (each judge's verdict drawn from a logistic model
with its own weights; every 10th judge leaves 10% of the pairs unlabelled). Deterministic in
`--seed`. Needs numpy only; `prefdissect convert` turns the CSV into Parquet.
"""

import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--properties", type=int, default=64)
    ap.add_argument("--judges", type=int, default=100)
    ap.add_argument("--groups", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    k, nj, ng = a.properties, a.judges, a.groups
    weights = rng.normal(0.0, 0.5, size=(nj, k))
    sparsity = rng.uniform(0.2, 0.7, size=k)
    names = [f"p{i + 1}" for i in range(k)]
    judges = [f"j{j:03d}" for j in range(nj)]
    group_names = np.array([f"g{g:02d}" for g in range(ng)])
    with open(a.out, "w") as out:
        out.write(
            "id,groups,"
            + ",".join(f"property:{p}" for p in names)
            + ","
            + ",".join(f"label:{j}" for j in judges)
            + "\n"
        )
        for start in range(0, a.pairs, a.chunk):
            n = min(a.chunk, a.pairs - start)
            rows = np.arange(start, start + n)
            x = np.where(
                rng.uniform(size=(n, k)) < sparsity,
                rng.choice([-1.0, 1.0], size=(n, k)),
                0.0,
            )
            if k > 1:
                x[:, -1] = np.round(rng.normal(size=n), 3)
            p = 1.0 / (1.0 + np.exp(-(x @ weights.T)))
            labels = np.where(rng.uniform(size=(n, nj)) < p, "A", "B").astype(object)
            missing = rng.uniform(size=(n, nj)) < 0.1
            missing[:, np.arange(nj) % 10 != 0] = False
            labels[missing] = ""
            first = group_names[rows % ng]
            second = group_names[rng.integers(0, ng, size=n)]
            extra = (rng.uniform(size=n) < 0.5) & (second != first)
            groups = np.where(extra, np.char.add(np.char.add(first, ";"), second), first)
            sign = {-1.0: "-1", 0.0: "0", 1.0: "1"}
            lines = []
            for i in range(n):
                cells = [sign[v] for v in x[i, : k - 1]] if k > 1 else []
                last = x[i, -1]
                cells.append(repr(float(last)) if k > 1 else sign[last])
                lines.append(
                    f"pair-{rows[i]},{groups[i]},"
                    + ",".join(cells)
                    + ","
                    + ",".join(labels[i])
                    + "\n"
                )
            out.write("".join(lines))
            print(f"{start + n} pairs", file=sys.stderr, end="\r")
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
