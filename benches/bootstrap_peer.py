#!/usr/bin/env python3
"""Bootstrap benchmark: prefdissect's batched replicates against a plain Python loop of
scikit-learn fits, measured in the same script on the same data and machine.

    python3 benches/bootstrap_peer.py [--data DIR] [--replicates 10000] [--runs 3]
                                      [--slice 10000] [--bin target/release/prefdissect]

The peer fits the same problem prefdissect's MAP solves: L1-penalised logistic regression
without intercept, sum of log-losses + (1/b)·‖w‖₁ with b = 0.1, i.e. liblinear with C = b,
resampling counts passed as sample weights. It runs on a slice of replicate fits (models
round-robin) and its fits per second are compared with prefdissect's on the full job (median
of --runs). Needs numpy and scikit-learn (pip install scikit-learn).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def l1_logistic(**kw):
    """L1 logistic regression without intercept, C = b = 0.1; scikit-learn >= 1.8 spells the
    L1 penalty `l1_ratio=1`, older versions `penalty="l1"`."""
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=0.1, solver="liblinear", fit_intercept=False,
                                  **kw)
    return LogisticRegression(penalty="l1", C=0.1, solver="liblinear", fit_intercept=False, **kw)

KEYS = [
    "harmlessness", "grammar, spelling, punctuation, and code-switching", "friendly", "polite",
    "interactive", "authoritative tone", "funny and humorous",
    "metaphors, personification, similes, hyperboles, irony, parallelism",
    "complex word usage and sentence structure",
    "use of direct and explicit supporting materials", "well formatted",
    "admit limitations or mistakes", "persuade user", "step by step solution",
    "use of informal expressions", "-repetitive", "clear and understandable",
    "relevance without considering inaccuracy", "innovative and novel",
    "information richness without considering inaccuracy", "@Minor", "@Moderate", "@Severe",
    "clarify user intent", "showing empathetic", "satisfying explicit constraints",
    "supporting explicit subjective stances", "correcting explicit mistakes or biases", "length",
]


def load(data):
    rows, unchecked = [], []
    with open(os.path.join(data, "resolved.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            cmp = json.loads(line)["comparison"]
            acc = cmp["accuracy"]["comparison"]
            row = []
            for key in KEYS:
                if key.startswith("@"):
                    row.append(0 if acc == 999 else acc[key[1:]])
                elif key.startswith("-"):
                    row.append(-cmp[key[1:]]["comparison"])
                else:
                    row.append(cmp[key]["comparison"])
            rows.append(row)
            unchecked.append(acc == 999)
    x_all = np.array(rows, dtype=np.float64)
    with open(os.path.join(data, "query_aware_idxs.json")) as f:
        groups = {k: v for k, v in json.load(f).items() if k != "all"}
    judges = {}
    for name in sorted(os.listdir(os.path.join(data, "labels"))):
        if name.endswith(".json"):
            with open(os.path.join(data, "labels", name)) as f:
                judges[name[:-5]] = np.array([1 if v == "A" else 0 for v in json.load(f)])
    models = []
    for g, idx in groups.items():
        keep = np.array(sorted(i for i in idx if not unchecked[i]))
        for j, y in judges.items():
            models.append((g, j, x_all[keep], y[keep]))
    return models


def peer(models, n_fits, seed=0):
    rng = np.random.default_rng(seed)
    clf = l1_logistic()
    t0 = time.perf_counter()
    done = 0
    for i in range(n_fits):
        _, _, x, y = models[i % len(models)]
        counts = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)))
        if y[counts > 0].min() == y[counts > 0].max():
            continue  # liblinear needs both classes
        clf.fit(x, y, sample_weight=counts)
        done += 1
    return (time.perf_counter() - t0) / done, done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    ap.add_argument("--replicates", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--slice", type=int, default=10000)
    ap.add_argument("--bin", default=None)
    a = ap.parse_args()
    warnings.simplefilter("error")  # a warning per fit would be timed as part of the loop
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    binary = a.bin or os.path.join(target, "release", "prefdissect")
    tmp = tempfile.mkdtemp(prefix="prefdissect-bootbench-")
    data = a.data
    if data is None:
        data = os.path.join(tmp, "data")
        subprocess.run([binary, "simulate", "--out", data], check=True, capture_output=True)
    models = load(data)

    # Same problem check: the peer's plain fit vs prefdissect's point estimate.
    out0 = os.path.join(tmp, "check")
    subprocess.run([binary, "bootstrap", "--data", data, "--out", out0, "--replicates", "2",
                    "--quiet"], check=True, capture_output=True)
    ours = {}
    with open(os.path.join(out0, "bootstrap_ci.csv")) as f:
        next(f)
        for line in f:
            c = line.split(",")
            if c[0] == "weight":
                ours.setdefault((c[3], c[1]), []).append(float(c[5]))
    clf = l1_logistic(tol=1e-8, max_iter=10000)
    worst = 0.0
    for g, j, x, y in models[:40]:
        clf.fit(x, y)
        worst = max(worst, float(np.max(np.abs(clf.coef_[0] - np.array(ours[(g, j)])))))

    per_fit, done = peer(models, a.slice)
    walls, phases, fits_s, gflops = [], [], [], []
    for run in range(a.runs):
        out = os.path.join(tmp, f"run{run}")
        t0 = time.perf_counter()
        subprocess.run([binary, "bootstrap", "--data", data, "--out", out, "--replicates",
                        str(a.replicates), "--quiet"], check=True)
        walls.append(time.perf_counter() - t0)
        with open(os.path.join(out, "summary.json")) as f:
            s = json.load(f)
        phases.append(s["timings_s"]["replicates_all_calls"])
        fits_s.append(s["throughput"]["replicate_fits_per_s"])
        gflops.append(s["throughput"]["kernel_gflop_per_s"])
        n_fits = s["counts"]["replicate_fits"]
    wall = statistics.median(walls)
    ours_rate = n_fits / wall
    peer_rate = 1.0 / per_fit
    print(f"data: {data}; {len(models)} (judge, group) models")
    print(f"same problem: max |w_sklearn - w_prefdissect| over 40 plain fits = {worst:.2e}")
    print(f"{'run':<44} {'fits':>10} {'wall s':>9} {'fits/s':>11}")
    print(f"{'sklearn liblinear loop (slice)':<44} {done:>10} {per_fit * done:>9.2f} "
          f"{peer_rate:>11.0f}   ({per_fit * 1e3:.3f} ms a fit)")
    print(f"{'prefdissect bootstrap (median of %d)' % a.runs:<44} {n_fits:>10} {wall:>9.2f} "
          f"{ours_rate:>11.0f}   (runs: {', '.join(f'{w:.2f}' for w in walls)} s)")
    print(f"speed-up (whole command, incl. load and summaries): {ours_rate / peer_rate:.0f}x; "
          f"replicate phase alone: {statistics.median(fits_s) / peer_rate:.0f}x; "
          f"kernel {statistics.median(gflops):.1f} GFLOP/s during replicates")
    print(f"sklearn loop for the same {n_fits} fits would take {n_fits * per_fit / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
