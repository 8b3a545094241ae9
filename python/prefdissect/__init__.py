"""prefdissect from Python: the engine of the `prefdissect` CLI, called in-process.

    import prefdissect
    ds = prefdissect.load("pairs.parquet")      # or .csv, or the authors' directory
    fit = prefdissect.fit(ds, config="fast")      # posterior means, all judges x groups x folds
    fit.weights                                   # numpy (judges, groups, properties)
    fit.to_pandas()                               # long table with diagnostics
    fit.save("out")                               # the files `prefdissect fit --out out` writes

The numbers are the CLI's, bit for bit: both call the same Rust library. The engine runs with
the GIL released; Ctrl-C stops it (KeyboardInterrupt) and nothing is written. Errors carry the
CLI's messages: ValueError for bad input or settings, OSError for files.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from . import _native

__all__ = ["Dataset", "Fit", "Bootstrap", "load", "from_pandas", "fit", "bootstrap", "similarity",
           "fit_shard", "bootstrap_shard", "merge"]

Dataset = _native.Dataset


def load(path: Union[str, os.PathLike], judges: Optional[Sequence[str]] = None,
         groups: Optional[Sequence[str]] = None) -> Dataset:
    """Loads a pairs table (.parquet / .csv) or the authors' data directory, checked whole."""
    return _native.load(os.fspath(path), _names(judges), _names(groups))


def from_pandas(df, judges: Optional[Sequence[str]] = None,
                groups: Optional[Sequence[str]] = None) -> Dataset:
    """A DataFrame in the pairs-table layout (`groups`, `property:*`, `label:*`, optional `id`).

    `groups` may hold lists of names or `;`-joined strings. The frame is written to a temporary
    CSV (floats with round-trip precision) and read by the table loader, so every check and
    message is the file loader's.
    """
    frame = df.copy()
    if "groups" in frame.columns:
        frame["groups"] = [
            ";".join(g) if isinstance(g, (list, tuple, np.ndarray)) else g for g in frame["groups"]
        ]
    with tempfile.TemporaryDirectory(prefix="prefdissect-") as tmp:
        path = os.path.join(tmp, "dataframe.csv")
        frame.to_csv(path, index=False, float_format="%.17g")
        return _native.load(path, _names(judges), _names(groups))


class Fit:
    """The fitted models: fold-mean weights per (judge, group) and their diagnostics."""

    def __init__(self, native):
        self._native = native
        self.judges = list(native.judges)
        self.groups = list(native.groups)
        self.properties = list(native.properties)
        self.estimator = native.estimator
        self.warnings = list(native.warnings)
        shape = (len(self.judges), len(self.groups), len(self.properties))
        self.weights = np.array(native.weights_flat(), dtype=np.float64).reshape(shape)

    def to_pandas(self):
        """Long table: judge, group, property, weight, probability (100*sigmoid(w)), sd, mcse,
        rhat, ess. sd is the fold mean of the posterior sds, mcse the MCSE of the fold-mean
        weight, rhat the worst and ess the smallest over folds (NaN for the MAP)."""
        import pandas as pd

        cols = self._native.long_columns()
        order = ["judge", "group", "property", "weight", "probability", "sd", "mcse", "rhat", "ess"]
        return pd.DataFrame({c: cols.get(c, []) for c in order})

    def save(self, out: Union[str, os.PathLike]) -> None:
        """Writes exactly the files `prefdissect fit --out OUT` writes."""
        self._native.save(os.fspath(out))

    def __repr__(self) -> str:
        j, g, k = self.weights.shape
        return f"<prefdissect.Fit {self.estimator}: {j} judges x {g} groups x {k} properties>"


class Bootstrap:
    """Bootstrap intervals: the rows of `bootstrap_ci.csv`."""

    def __init__(self, csv_text: str):
        self.csv = csv_text

    def to_pandas(self):
        import pandas as pd

        return pd.read_csv(io.StringIO(self.csv), keep_default_na=False, na_values=[""])

    def __repr__(self) -> str:
        return f"<prefdissect.Bootstrap: {self.csv.count(chr(10)) - 1} rows>"


def fit(ds: Dataset, estimator: Optional[str] = None, config: Union[str, dict] = "fast",
        judges: Optional[Sequence[str]] = None, groups: Optional[Sequence[str]] = None,
        folds: Optional[int] = 10, seed: Optional[int] = None, backend: str = "auto",
        progress: bool = False, shard=None, out=None):
    """Fits every selected judge x group x fold of `ds`.

    estimator: "posterior-mean" or "map" (default: the config's, else posterior-mean).
    config: "paper", "fast", "map", a dict in the configs/*.json schema, or a config file path.
    shard=(K, N) with out=DIR: only shard K of N, written to DIR for `merge` (returns DIR).
    """
    import json

    if shard is not None:
        if out is None:
            raise ValueError("setting `out`: a shard writes to a directory; give out=...")
        if judges is not None or groups is not None:
            ds = load(ds.source, judges=judges or ds.judges, groups=groups or ds.groups)
        return fit_shard(ds, out, shard, estimator=estimator, config=config, folds=folds,
                         seed=seed, backend=backend)
    if isinstance(config, dict):
        config = json.dumps(config)
    if estimator is None and config == "map":
        estimator = "map"
    native = _native.fit(ds, estimator, config, _names(judges), _names(groups), folds, seed,
                         backend, progress)
    return Fit(native)


def bootstrap(ds: Dataset, replicates: int = 1000, seed: int = 0, estimator: str = "map",
              config: Optional[Union[str, dict]] = None, level: float = 0.95,
              backend: str = "auto", progress: bool = False, shard=None, out=None):
    """Bootstrap intervals for every (judge, group) model of `ds` and the statistics read from
    them, as `prefdissect bootstrap` computes them. shard=(K, N) with out=DIR: only shard K of
    N, written to DIR for `merge` (returns DIR)."""
    import json

    if isinstance(config, dict):
        config = json.dumps(config)
    if shard is not None:
        if out is None:
            raise ValueError("setting `out`: a shard writes to a directory; give out=...")
        return bootstrap_shard(ds, out, shard, replicates=replicates, seed=seed,
                               estimator=estimator, config=config, level=level, backend=backend)
    return Bootstrap(_native.bootstrap_csv(ds, replicates, seed, estimator, config, level,
                                           backend, progress))


def fit_shard(ds: Dataset, out, shard, estimator: Optional[str] = None,
              config: Union[str, dict] = "fast", folds: Optional[int] = 10,
              seed: Optional[int] = None, backend: str = "auto") -> str:
    """Shard `shard = (K, N)` of the posterior job into `out` (`prefdissect fit --shard K/N
    --resume`); `merge` puts all N together. The data set must come from a file."""
    import json

    if isinstance(config, dict):
        config = json.dumps(config)
    k, n = shard
    _native.fit_shard(ds, os.fspath(out), k, n, estimator, config, folds, seed, backend)
    return os.fspath(out)


def bootstrap_shard(ds: Dataset, out, shard, replicates: int = 1000, seed: int = 0,
                    estimator: str = "map", config: Optional[str] = None, level: float = 0.95,
                    backend: str = "auto") -> str:
    """Shard `shard = (K, N)` of a bootstrap into `out` (`prefdissect bootstrap --shard K/N`)."""
    k, n = shard
    _native.bootstrap_shard(ds, os.fspath(out), k, n, replicates, seed, estimator, config,
                            level, backend)
    return os.fspath(out)


def merge(out, shards: Sequence) -> str:
    """`prefdissect merge`: the whole job's files in `out` from all its shards' directories."""
    _native.merge(os.fspath(out), [os.fspath(s) for s in shards])
    return os.fspath(out)


def similarity(fit: Fit):
    """The paper's similarity of each pair of judges: Pearson of their weights per group, and
    the mean over the scenario groups (group "scenarios"). Columns judge_a, judge_b, group,
    similarity."""
    import pandas as pd

    cols = fit._native.similarity_columns()
    return pd.DataFrame({c: cols.get(c, []) for c in ["judge_a", "judge_b", "group", "similarity"]})


def _names(names: Optional[Iterable[str]]):
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    return list(names)
