#!/usr/bin/env python3
"""K = 12 synthetic fidelity problem and its numpyro NUTS reference.

What it is
  A small, fully synthetic pairs table (900 pairs, 12 properties, 3 overlapping groups, 2 judges)
  plus the authors' numpyro NUTS fit of every (judge, group, fold), in the format of
  shared/data/dev/numpyro/*.json (``{"summary": {...}, "fits": [...]}``). It exercises what the
  authors' dev data does not: K != 29, a real-valued property, overlapping groups, a missing
  property cell (row dropped from every fit) and missing labels (pair left out of one judge's
  fits only).

  1. ``pairs.csv`` is generated deterministically from ``numpy.random.default_rng(20261201)``:
     columns ``id, groups, property:p01 .. property:p12, label:alpha, label:beta``.
     - groups: every row is in exactly one of north/south (p = 1/2), and in ``wide`` with p = 0.4;
       names joined by ``;``.
     - p01..p11: signs in {-1, 0, 1}, P(nonzero) from 0.15 to 0.70 per property; p12: N(0, 1)
       rounded to 3 decimals (a standardised length difference).
     - ~2% of rows have an empty p05 cell (the row is dropped from every fit).
     - labels: y ~ Bernoulli(sigmoid(x . w_judge)), A = 1, B = 0, with the true weights below
       (computed on the full x, including the p05 value that is then hidden). Judge ``beta`` has
       an empty label on ~15% of rows (left out of beta's fits only).
  2. ``numpyro.json``: judges [alpha, beta] x groups [north, south, wide] x 10 folds = 60 fits,
     each with the authors' model and settings, copied from shared/peers/peer_numpyro.py (itself
     verbatim from GAIR-NLP/Preference-Dissection visualization/app.py): weights ~ Laplace(0, 0.1)
     i.i.d., no intercept, y ~ Bernoulli(logits = X @ w), X as float32; NUTS defaults,
     num_warmup 500, num_samples 2000, num_chains 4, chain_method "parallel" with
     numpyro.set_host_device_count(4), a fresh NUTS/MCMC per fit, PRNGKey(0) per fit.
     Diagnostics as the peer: sd over all draws, ess = numpyro.diagnostics.effective_sample_size
     on the (chains, draws, K) array, mcse = sd / sqrt(ess), rhat = split_gelman_rubin.

  Rows and folds (as the Rust engine and shared/peers/common.py):
  - a group's usable rows are its rows whose 12 property cells are all present, ascending;
  - the authors' 10-fold split over those n rows: np.random.seed(0); shuffle(arange(n)); fold i
    holds out positions [int(i/10*n), int(i/10*n) + int(n/10)) of the shuffled order;
  - after the split, the judge's unlabelled rows are removed from the fold's training rows, so
    n_train(beta) = the fold's training rows that beta labelled.
  The fits read the table back from ``pairs.csv`` (not the in-memory draw), so the reference is
  exactly a fit of the committed file.

How to run (from this directory, or pass --dir)
  python3 -m venv /var/tmp/k12-venv
  /var/tmp/k12-venv/bin/pip install numpy==2.4.6 jax==0.10.2 jaxlib==0.10.2 numpyro==0.22.0
  /var/tmp/k12-venv/bin/python make_reference.py --table-only      # just pairs.csv
  /var/tmp/k12-venv/bin/python make_reference.py                   # pairs.csv + all 60 fits
  # in chunks (each run fits what is not yet in --parts, stops after --max-seconds; the final
  # run that completes the 60 fits writes numpyro.json):
  /var/tmp/k12-venv/bin/python make_reference.py --parts /var/tmp/k12-parts --max-seconds 480

Committed files were made with: Python 3.11.7, numpy 2.4.6, jax 0.10.2, jaxlib 0.10.2,
numpyro 0.22.0 (CPU, x86_64, 2 cores), chain_method "parallel" (4 virtual host devices);
the exact versions are also in numpyro.json's summary.env.
"""
import argparse
import csv
import json
import os
import platform
import sys
import time

import numpyro

numpyro.set_host_device_count(4)   # as in the authors' app.py (must precede jax init)

from functools import partial       # noqa: E402

import jax                          # noqa: E402
import jax.numpy as jnp             # noqa: E402
import numpy as np                  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "k12"            # tests/data/k40/make_reference.py runs this file with its own values
SEED = 20261201
N_ROWS = 900
K = 12
PROPS = [f"p{k:02d}" for k in range(1, K + 1)]
JUDGES = ["alpha", "beta"]
GROUPS = ["north", "south", "wide"]          # name order
NUM_FOLD = 10
# P(nonzero) of the sign properties p01..p11
P_NONZERO = [0.15, 0.70, 0.30, 0.45, 0.60, 0.20, 0.50, 0.25, 0.65, 0.35, 0.40]
P_MISSING_P05 = 0.02
P_WIDE = 0.40
P_BETA_UNLABELLED = 0.15
# true weights, p01..p12 (p12 real-valued)
TRUE_W = {
    "alpha": [0.0, 0.8, 0.0, -0.5, 0.3, 0.0, 1.0, 0.0, -0.25, 0.0, 0.6, 0.4],
    "beta":  [0.5, 0.0, 0.0, 0.9, 0.0, -0.7, 0.3, 0.0, 0.0, 0.2, 0.0, 0.8],
}
CHAIN_METHOD = "parallel"


# ---------------------------------------------------------------------------- the table
def generate_table(path):
    rng = np.random.default_rng(SEED)
    n = N_ROWS
    north = rng.random(n) < 0.5
    wide = rng.random(n) < P_WIDE
    X = np.zeros((n, K))
    for k, p in enumerate(P_NONZERO):
        nz = rng.random(n) < p
        p_plus = rng.uniform(0.4, 0.6)
        sign = np.where(rng.random(n) < p_plus, 1.0, -1.0)
        X[:, k] = np.where(nz, sign, 0.0)
    X[:, K - 1] = np.round(rng.standard_normal(n), 3) + 0.0    # no "-0.000"
    miss_p05 = rng.random(n) < P_MISSING_P05
    labels = {}
    for j in JUDGES:
        z = X @ np.asarray(TRUE_W[j])
        labels[j] = rng.random(n) < 1.0 / (1.0 + np.exp(-z))      # True = A
    beta_none = rng.random(n) < P_BETA_UNLABELLED

    header = ["id", "groups"] + [f"property:{p}" for p in PROPS] + [f"label:{j}" for j in JUDGES]
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for i in range(n):
            gs = ["north" if north[i] else "south"] + (["wide"] if wide[i] else [])
            cells = [str(int(v)) for v in X[i, :K - 1]] + [f"{X[i, K - 1]:.3f}"]
            if miss_p05[i]:
                cells[4] = ""
            la = "A" if labels["alpha"][i] else "B"
            lb = "" if beta_none[i] else ("A" if labels["beta"][i] else "B")
            w.writerow([f"pair-{i + 1:04d}", ";".join(gs)] + cells + [la, lb])


def read_table(path):
    """Back from the CSV: X float32 (0 where missing), missing-row mask, groups, labels
    (1 = A, 0 = B, -1 = none)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    X = np.zeros((n, K), dtype=np.float32)               # authors: np.float32
    missing = np.zeros(n, dtype=bool)
    Y = {j: np.full(n, -1, dtype=np.int64) for j in JUDGES}
    groups = {g: [] for g in GROUPS}
    for i, r in enumerate(rows):
        for k, p in enumerate(PROPS):
            t = r[f"property:{p}"].strip()
            if t == "":
                missing[i] = True
            else:
                X[i, k] = np.float32(float(t))
        for g in r["groups"].split(";"):
            groups[g].append(i)
        for j in JUDGES:
            t = r[f"label:{j}"].strip()
            if t:
                Y[j][i] = 1 if t == "A" else 0
    return X, missing, {g: np.asarray(v, dtype=np.int64) for g, v in groups.items()}, Y


def usable_rows(groups, missing, g):
    rows = np.sort(groups[g])
    return rows[~missing[rows]]


def fold_train_indices(n, num_fold=NUM_FOLD):
    """Exactly the authors' split (shared/peers/common.py, from visualization/app.py
    compute_one_model_fitted_params): np.random.seed(0); shuffle; fold i drops
    [int(i/k*n), int(i/k*n)+int(n/k))."""
    if num_fold <= 1:
        return [np.arange(n)]
    np.random.seed(0)
    idxs = np.arange(n)
    np.random.shuffle(idxs)
    out = []
    for i in range(num_fold):
        sp = int(i / num_fold * n)
        out.append(np.concatenate([idxs[:sp], idxs[sp + int(n / num_fold):]]))
    return out


# ---- verbatim from the authors (visualization/app.py), via shared/peers/peer_numpyro.py ----
def bayesian_logistic_regression(X, y, scale=0.01):
    # Priors for the regression coefficients
    alpha = numpyro.sample('alpha', dist.Laplace(loc=jnp.zeros(X.shape[1]), scale=scale))
    # Calculate the linear predictor (the logits) using JAX NumPy
    logits = jnp.dot(X, alpha)
    # Likelihood of the observations given the logistic model
    with numpyro.plate('data', X.shape[0]):
        numpyro.sample('obs', dist.Bernoulli(logits=logits), obs=y)


def fit_bayes_logistic_regression(X, y, scale=0.1, ):
    bxx = partial(bayesian_logistic_regression, scale=scale)
    kernel = NUTS(bxx)
    mcmc = MCMC(kernel, num_warmup=500, num_samples=2000, num_chains=4, progress_bar=False,
                chain_method=CHAIN_METHOD)
    mcmc.run(jax.random.PRNGKey(0), X, y)
    posterior_samples = mcmc.get_samples()
    alpha_mean = np.mean(posterior_samples['alpha'], axis=0).tolist()
    return mcmc, alpha_mean
# ------------------------------------------------------------------------------------------


def iter_fits(X, missing, groups, Y, judges, gnames):
    """(judge, group, fold, X_train, y_train, n_heldout) in the authors' order."""
    for j in judges:
        for g in gnames:
            rows = usable_rows(groups, missing, g)
            folds = fold_train_indices(len(rows))
            for k, tr in enumerate(folds):
                r = rows[tr]
                held = np.setdiff1d(rows, r)
                r = r[Y[j][r] >= 0]
                n_held = int((Y[j][held] >= 0).sum())
                yield j, g, k, X[r], Y[j][r], n_held


def proc_mem():
    try:
        rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
        return int(rss) / 1024.0, sum(1 for _ in open("/proc/self/maps"))
    except OSError:
        return None, None


def env_info():
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count()}
    try:
        info["cpu_model"] = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                             if l.startswith("model name")][0]
    except Exception:
        pass
    import importlib.metadata as md
    for p in ("numpy", "scipy", "jax", "jaxlib", "numpyro"):
        try:
            info[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    return info


def fit_one(Xtr, ytr):
    t0 = time.perf_counter()
    mcmc, mean = fit_bayes_logistic_regression(Xtr, ytr, scale=0.1)
    dt = time.perf_counter() - t0
    s = np.asarray(mcmc.get_samples(group_by_chain=True)["alpha"], dtype=np.float64)  # C x S x K
    ess = effective_sample_size(s)
    sd = s.reshape(-1, s.shape[-1]).std(0)
    rhat = split_gelman_rubin(s)
    div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    rss, nmaps = proc_mem()
    return {"wall_s": dt, "posterior_mean": mean, "posterior_sd": sd.tolist(),
            "mcse": (sd / np.sqrt(ess)).tolist(),
            "max_rhat": float(np.nanmax(rhat)), "min_ess": float(np.nanmin(ess)),
            "divergences": div, "rss_mb": rss, "n_maps": nmaps}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=HERE, help="where pairs.csv and numpyro.json go")
    ap.add_argument("--table-only", action="store_true", help="write pairs.csv and stop")
    ap.add_argument("--judges", default=",".join(JUDGES))
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--parts", default=None,
                    help="folder of per-fit results: fits already there are skipped (resume)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="start no new fit after this many seconds (with --parts)")
    a = ap.parse_args()

    csv_path = os.path.join(a.dir, "pairs.csv")
    generate_table(csv_path)
    X, missing, groups, Y = read_table(csv_path)
    sizes = {g: int(len(usable_rows(groups, missing, g))) for g in GROUPS}
    print(f"[{NAME}] rows={len(X)} dropped(missing property)={int(missing.sum())} usable per group "
          f"{sizes} beta unlabelled={int((Y['beta'] < 0).sum())}", file=sys.stderr)
    assert all(v >= 250 for v in sizes.values()), sizes
    if a.table_only:
        return

    judges = a.judges.split(",")
    gnames = a.groups.split(",")
    if a.parts:
        os.makedirs(a.parts, exist_ok=True)
    t_all = time.perf_counter()
    fits, stopped = [], False
    for j, g, k, Xtr, ytr, n_held in iter_fits(X, missing, groups, Y, judges, gnames):
        part = os.path.join(a.parts, f"{j}_{g}_{k}.json") if a.parts else None
        if part and os.path.exists(part):
            fits.append(json.load(open(part)))
            continue
        if a.max_seconds is not None and time.perf_counter() - t_all > a.max_seconds:
            stopped = True
            continue
        f = {"judge": j, "group": g, "fold": k, "n_train": int(len(ytr)),
             "n_heldout": n_held, **fit_one(Xtr, ytr)}
        print(f"[numpyro] {j} | {g} | fold {k} n={f['n_train']} {f['wall_s']:.2f}s "
              f"rhat<={f['max_rhat']:.4f} ess>={f['min_ess']:.0f} div={f['divergences']}",
              file=sys.stderr, flush=True)
        if part:
            with open(part, "w") as fh:
                json.dump(f, fh)
        fits.append(f)
    total = time.perf_counter() - t_all
    done = len(fits)
    want = len(judges) * len(gnames) * NUM_FOLD
    if stopped or done < want:
        print(f"[{NAME}] {done}/{want} fits present; run again to continue", file=sys.stderr)
        return
    if judges != JUDGES or gnames != GROUPS:
        print(f"[{NAME}] {done} fits of a subset done; numpyro.json is only written for all of "
              f"{JUDGES} x {GROUPS}", file=sys.stderr)
        return

    walls = np.array([f["wall_s"] for f in fits])
    summary = {"peer": "numpyro_nuts_authors", "chain_method": CHAIN_METHOD, "isolate": False,
               "clear_caches": False,
               "settings": {"num_warmup": 500, "num_samples": 2000, "num_chains": 4,
                            "host_device_count": 4, "prior": "Laplace(0,0.1)", "key": 0},
               "data": "pairs.csv", "seed": SEED, "properties": PROPS,
               "true_weights": TRUE_W, "group_usable_rows": sizes,
               "judges": judges, "groups": gnames, "num_fold": NUM_FOLD, "folds": "all",
               "n_fits": len(fits),
               "total_wall_s_last_run": total,
               "sum_fit_wall_s": float(walls.sum()),
               "first_fit_wall_s": float(walls[0]),
               "mean_fit_wall_s": float(walls.mean()),
               "mean_fit_wall_s_excl_first": float(walls[1:].mean()) if len(walls) > 1 else None,
               "env": env_info()}
    avg = {}
    for f in fits:
        avg.setdefault((f["judge"], f["group"]), []).append(f["posterior_mean"])
    summary["fold_averaged"] = {f"{j}|{g}": np.mean(v, 0).tolist() for (j, g), v in avg.items()
                                if len(v) == NUM_FOLD}
    summary["max_rhat"] = max(f["max_rhat"] for f in fits)
    summary["min_ess"] = min(f["min_ess"] for f in fits)
    summary["divergences"] = sum(f["divergences"] for f in fits)
    with open(os.path.join(a.dir, "numpyro.json"), "w") as fh:
        json.dump({"summary": summary, "fits": fits}, fh)
    short = {k: v for k, v in summary.items() if k not in ("fold_averaged",)}
    print(json.dumps(short))


if __name__ == "__main__":
    main()
