#!/usr/bin/env python3
"""K = 40 synthetic fidelity problem and its numpyro NUTS reference: tests/data/k12's problem
widened past the paper's 29 properties, where the engine computes with K slots (and wgpu with
kernels of that width).

This file runs tests/data/k12/make_reference.py with other values of K (40: p01..p39 signs,
p40 real-valued), the seed, the properties' P(nonzero) (k12's eleven, repeated) and the true
weights; everything else (the table's layout and its missing cells and labels, the authors'
model and settings, the folds, the output format, the options) is that file's, and so are its
instructions:

  /var/tmp/k12-venv/bin/python make_reference.py --table-only      # just pairs.csv
  /var/tmp/k12-venv/bin/python make_reference.py --parts /var/tmp/k40-parts

Committed files were made with the k12 file's versions (Python 3.11.7, numpy 2.4.6, jax 0.10.2,
jaxlib 0.10.2, numpyro 0.22.0; CPU, x86_64, 2 cores): 60 fits, 241 s; numpyro.json's
summary.env has them.
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "k12_make_reference", os.path.join(HERE, "..", "k12", "make_reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

ref.SEED = 20261202
ref.K = K = 40
ref.PROPS = [f"p{k:02d}" for k in range(1, K + 1)]
# P(nonzero) of the sign properties p01..p39: k12's eleven, repeated
ref.P_NONZERO = ([0.15, 0.70, 0.30, 0.45, 0.60, 0.20, 0.50, 0.25, 0.65, 0.35, 0.40] * 4)[:K - 1]
# true weights, p01..p40 (p40 real-valued): k12's sign weights, then a sparse tail
ref.TRUE_W = TRUE_W = {
    "alpha": [0.0, 0.8, 0.0, -0.5, 0.3, 0.0, 1.0, 0.0, -0.25, 0.0, 0.6]
    + [0.0, 0.4, 0.0, 0.0, -0.6, 0.0, 0.2, 0.0, 0.0, 0.5, 0.0, 0.0, -0.3, 0.0]
    + [0.7, 0.0, 0.0, 0.0, -0.2, 0.0, 0.3, 0.0, 0.0, 0.0, -0.5, 0.0, 0.0, 0.0] + [0.4],
    "beta": [0.5, 0.0, 0.0, 0.9, 0.0, -0.7, 0.3, 0.0, 0.0, 0.2, 0.0]
    + [0.0, 0.0, 0.6, 0.0, 0.0, -0.4, 0.0, 0.0, 0.3, 0.0, 0.0, 0.8, 0.0, 0.0]
    + [0.0, -0.3, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, -0.6, 0.0, 0.0] + [0.8],
}
assert all(len(w) == K for w in TRUE_W.values())
ref.HERE = HERE
ref.NAME = "k40"

if __name__ == "__main__":
    ref.main()
