#!/usr/bin/env python3
"""The wgpu fits against the CPU's, weight by weight, for benches/gpu_figures.sh.

Reads WORK/fits-JOB-wgpu.jsonl and WORK/fits-JOB-cpu.jsonl for each job (map, fast, paper)
where both exist and prints a JSON list, one object a job: for MAP, max and median |Δw|; for the posterior
jobs, z = Δw / sqrt(mcse_wgpu² + mcse_cpu²) over every weight of every fit (max |z|, sd, mean)
and the median |Δw|. Two samplers on different backends draw different streams, so the
posterior means agree within Monte-Carlo error, not bit for bit; the MAP agrees within f32
round-off. Plain Python (no numpy), so it runs wherever python3 does.

Usage: benches/gpu_compare.py WORK
"""
import json
import math
import os
import statistics
import sys


def load(path):
    fits = {}
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            fits[(d["judge"], d["group"], d["fold"])] = d
    return fits


def compare(job, wgpu, cpu):
    keys = sorted(set(wgpu) & set(cpu))
    out = {"job": job, "fits": len(keys), "only_wgpu": len(set(wgpu) - set(cpu)),
           "only_cpu": len(set(cpu) - set(wgpu))}
    deltas, zs = [], []
    for k in keys:
        a, b = wgpu[k], cpu[k]
        for i, (wa, wb) in enumerate(zip(a["weights"], b["weights"])):
            deltas.append(abs(wa - wb))
            if job != "map" and a.get("mcse") and b.get("mcse"):
                se = math.hypot(a["mcse"][i], b["mcse"][i])
                if se > 0:
                    zs.append((wa - wb) / se)
    if deltas:
        out["max_abs_dw"] = max(deltas)
        out["median_abs_dw"] = statistics.median(deltas)
    if zs:
        out["weights"] = len(zs)
        out["max_abs_z"] = max(abs(z) for z in zs)
        out["sd_z"] = statistics.pstdev(zs)
        out["mean_z"] = statistics.fmean(zs)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    work = sys.argv[1]
    results = []
    for job in ("map", "fast", "paper"):
        paths = [os.path.join(work, f"fits-{job}-{b}.jsonl") for b in ("wgpu", "cpu")]
        if all(os.path.exists(p) for p in paths):
            results.append(compare(job, load(paths[0]), load(paths[1])))
        else:
            results.append({"job": job, "missing": [p for p in paths if not os.path.exists(p)]})
    json.dump(results, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
