"""Scaling of sharded jobs on Ray on this box: wall time with 1 and 2 Ray worker processes, the
per-shard overhead, and the merge; prints a table (docs/distributed.md has the figures).

    python benches/ray_scaling.py DATA [--map-replicates 10000] [--post-replicates 200]
                                       [--post-judges 4] [--shards 4]
Needs the package (`pip install ./python`) and Ray; starts and stops its own local cluster.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

import prefdissect
import prefdissect.distributed as dist

RAY = str(Path(sys.executable).parent / "ray")


def cluster(workers, tmp):
    subprocess.run([RAY, "stop", "--force"], capture_output=True)
    subprocess.run([RAY, "start", "--head", f"--num-cpus={workers}", "--include-dashboard=false",
                    "--disable-usage-stats", f"--temp-dir={tmp}"], check=True,
                   capture_output=True)
    ray.init(address="auto", log_to_driver=False)


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--map-replicates", type=int, default=10000)
    ap.add_argument("--post-replicates", type=int, default=200)
    ap.add_argument("--post-judges", type=int, default=4)
    ap.add_argument("--shards", type=int, default=4)
    a = ap.parse_args()
    ds = prefdissect.load(a.data)
    post = prefdissect.load(a.data, judges=ds.judges[: a.post_judges])
    tmp = Path(tempfile.mkdtemp(prefix="ray-scaling-"))
    rows = []
    try:
        for workers in (1, 2):
            cluster(workers, tmp / f"ray{workers}")
            out = tmp / f"map{workers}"
            t = timed(lambda: dist.bootstrap(ds, shards=a.shards, out=out,
                                             replicates=a.map_replicates, backend="cpu"))
            rows.append((f"MAP bootstrap, {a.map_replicates} replicates, {len(ds.judges)} judges",
                         workers, t))
            out = tmp / f"post{workers}"
            t = timed(lambda: dist.bootstrap(post, shards=a.shards, out=out,
                                             replicates=a.post_replicates,
                                             estimator="posterior-mean", backend="cpu"))
            rows.append((f"posterior bootstrap, {a.post_replicates} replicates, "
                         f"{len(post.judges)} judges", workers, t))
            if workers == 1:
                # Overhead: a shard with almost no work (start a task, load, point fit, write),
                # and the merge of the MAP job's shards.
                small = tmp / "small"
                t_small = timed(lambda: dist.bootstrap(ds, shards=a.shards, out=small,
                                                       replicates=2 * a.shards, backend="cpu"))
                rows.append((f"{a.shards} near-empty MAP shards (2 replicates each) + merge",
                             workers, t_small))
                dirs = [tmp / "map1" / "shards" / str(k) for k in range(a.shards)]
                merged = tmp / "remerge"
                t_merge = timed(lambda: prefdissect.merge(merged, dirs))
                rows.append((f"merge of the {a.shards} MAP shards", workers, t_merge))
            ray.shutdown()
            subprocess.run([RAY, "stop", "--force"], capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"| job | Ray workers | wall s |")
    print(f"| --- | --- | --- |")
    for job, w, t in rows:
        print(f"| {job} | {w} | {t:.1f} |")


if __name__ == "__main__":
    main()
