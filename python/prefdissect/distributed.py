"""Sharded jobs on a Ray cluster: each shard is a Ray task calling the engine through this
package, a task whose worker dies is retried (it resumes what it had checkpointed), and the
shards are merged into exactly the files of the unsharded run.

    import prefdissect, prefdissect.distributed as dist
    ds = prefdissect.load("pairs.parquet")            # a file every node can read
    out = dist.fit(ds, shards=64, out="fit", config="paper", address="auto")
    out = dist.bootstrap(ds, shards=64, out="boot", replicates=10_000, estimator="posterior-mean")

Shards write to `<out>/shards/<k>` and the merge to `<out>`, so `out` must be on a file system
every node sees (or the shard directories copied back before the merge).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from . import _native

#: Where the last job's shards ran: {"nodes": {shard: Ray node id}} (the final attempt's node
#: for a retried shard).
last_run: dict = {}


def _ray(address: Optional[str]):
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    return ray


def _run(ds, shards: int, out, submit, address: Optional[str], max_retries: int):
    if shards < 1:
        raise ValueError(f"setting `shards`: must be at least 1, got {shards}")
    ray = _ray(address)
    out = os.path.abspath(os.fspath(out))
    dirs = [os.path.join(out, "shards", str(k)) for k in range(shards)]
    task = ray.remote(max_retries=max_retries, retry_exceptions=False)(submit)
    # Each task loads the data itself: only the path travels.
    source = ds.source
    judges, groups = ds.judges, ds.groups
    refs = [task.remote(source, judges, groups, dirs[k], k, shards) for k in range(shards)]
    nodes = ray.get(refs)
    last_run.clear()
    last_run["nodes"] = dict(enumerate(nodes))
    _native.merge(out, dirs)
    return out


def fit(ds, shards: int, out, estimator: Optional[str] = None, config: str = "fast",
        folds: Optional[int] = 10, seed: Optional[int] = None, backend: str = "auto",
        address: Optional[str] = None, max_retries: int = 3) -> str:
    """The posterior job of `ds` in `shards` Ray tasks, merged into `out` (returned)."""

    def submit(source, judges, groups, shard_dir, k, n):
        from prefdissect import _native as native

        data = native.load(source, judges, groups)
        native.fit_shard(data, shard_dir, k, n, estimator, config, folds, seed, backend)
        import ray

        return ray.get_runtime_context().get_node_id()

    return _run(ds, shards, out, submit, address, max_retries)


def bootstrap(ds, shards: int, out, replicates: int = 1000, seed: int = 0,
              estimator: str = "map", config: Optional[str] = None, level: float = 0.95,
              backend: str = "auto", address: Optional[str] = None,
              max_retries: int = 3) -> str:
    """A bootstrap of `ds` in `shards` Ray tasks (ranges of replicates), merged into `out`."""

    def submit(source, judges, groups, shard_dir, k, n):
        from prefdissect import _native as native

        data = native.load(source, judges, groups)
        native.bootstrap_shard(data, shard_dir, k, n, replicates, seed, estimator, config,
                               level, backend)
        import ray

        return ray.get_runtime_context().get_node_id()

    return _run(ds, shards, out, submit, address, max_retries)
