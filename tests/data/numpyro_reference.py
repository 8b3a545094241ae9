"""Writes numpyro_reference.json: seeded chains and numpyro's own split_gelman_rubin and
effective_sample_size for them, the values `diagnostics: "numpyro"` must reproduce.

Run with numpyro 0.22.0 (pip install numpyro==0.22.0 jax scipy):
    python tests/data/numpyro_reference.py > tests/data/numpyro_reference.json
"""
import json

import numpy as np
import numpyro
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin


def ar1(rng, chains, draws, phi, shift=None, repeat=0.0, grid=None):
    out = np.empty((chains, draws))
    for c in range(chains):
        x = 0.0
        for d in range(draws):
            if rng.uniform() >= repeat:  # a rejection repeats the draw
                x = phi * x + rng.normal() + (shift[c] if shift is not None else 0.0)
            out[c, d] = x if grid is None else np.round(x * grid) / grid
    return out


rng = np.random.default_rng(20261204)
cases = [
    ("converged_ar1", ar1(rng, 4, 500, 0.5)),
    ("slow_ar1", ar1(rng, 4, 400, 0.95)),
    ("antithetic", ar1(rng, 4, 300, -0.6)),
    ("displaced_chain", ar1(rng, 4, 300, 0.3, shift=[0.8, 0.0, 0.0, 0.0])),
    ("hmc_like_ties", ar1(rng, 4, 600, 0.6, repeat=0.25, grid=4.0)),
    ("odd_length", ar1(rng, 3, 201, 0.4)),
    ("two_chains", ar1(rng, 2, 1000, 0.7)),
]
doc = {
    "source": f"numpyro {numpyro.__version__}: diagnostics.split_gelman_rubin and "
    "effective_sample_size on seeded numpy chains",
    "cases": [
        {
            "name": name,
            "chains": x.tolist(),
            "split_rhat": float(split_gelman_rubin(x)),
            "ess": float(effective_sample_size(x)),
        }
        for name, x in cases
    ],
}
print(json.dumps(doc))
