"""A sharded job on a real local Ray cluster: a head node and a second node started here with
`ray start`, the shards spread over both, one worker killed (SIGKILL) mid-run and its task
retried, the merged files byte-identical to the single-process run."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import prefdissect
import prefdissect.distributed as dist

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
JUDGES = ["human", "gpt-4-1106-preview", "llama-2-7b", "yi-6b-chat", "vicuna-7b-v1.5",
          "tulu-2-dpo-70b"]


def cli():
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return os.environ.get("PREFDISSECT_BIN", str(Path(target) / "release" / "prefdissect"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    port = free_port()
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                    f"--temp-dir={tmp}", *common], env=env, check=True, capture_output=True)
    subprocess.run([RAY, "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                   capture_output=True)
    address = f"127.0.0.1:{port}"
    ray.init(address=address, log_to_driver=False)
    deadline = time.time() + 60
    while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.time() < deadline:
        time.sleep(0.5)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2, ray.nodes()
    yield address
    ray.shutdown()
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim") / "data"
    subprocess.run([cli(), "simulate", "--out", str(d), "--seed", "6"], check=True,
                   capture_output=True)
    return d


def outputs(out):
    """Relative path -> bytes of every output file (summary.json without run facts)."""
    found = {}
    for p in Path(out).rglob("*"):
        rel = p.relative_to(out)
        if p.is_dir() or rel.parts[0] == "shards":
            continue
        b = p.read_bytes()
        if rel.name == "summary.json":
            v = json.loads(b)
            for k in ("timings_s", "throughput", "data"):
                v.pop(k, None)
            v.get("counts", {}).pop("chunks_resumed", None)
            b = json.dumps(v, sort_keys=True).encode()
        found[str(rel)] = b
    return found


def kill_one_worker_midway(shard_root, done):
    """Once a shard has checkpointed a block but not finished, SIGKILL the worker running it."""
    deadline = time.time() + 120
    while time.time() < deadline and not done.is_set():
        for d in sorted(Path(shard_root).glob("*")):
            blocks = list((d / ".fit-checkpoint").glob("block-*.json"))
            if blocks and not (d / "shard.json").exists():
                pids = subprocess.run(["pgrep", "-f", "ray::submit"], capture_output=True,
                                      text=True).stdout.split()
                if pids:
                    os.kill(int(pids[0]), signal.SIGKILL)
                    return int(pids[0])
        time.sleep(0.05)
    return None


def test_sharded_fit_on_two_nodes_with_a_killed_worker_merges_to_the_whole_run(
        cluster, data, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run([cli(), "fit", "--data", str(data), "--out", str(whole), "--config",
                    str(ROOT / "configs/fast.json"), "--judges", ",".join(JUDGES),
                    "--backend", "cpu", "--quiet"], check=True, capture_output=True)
    ds = prefdissect.load(data, judges=JUDGES)
    out = tmp_path / "ray-fit"
    done = threading.Event()
    killed = []
    killer = threading.Thread(
        target=lambda: killed.append(kill_one_worker_midway(out / "shards", done)))
    killer.start()
    dist.fit(ds, shards=4, out=out, config="fast", backend="cpu", address=cluster)
    done.set()
    killer.join()
    assert killed and killed[0] is not None, "no worker was killed mid-run"
    assert outputs(out) == outputs(whole)
    # Both nodes ran shards.
    assert len(set(dist.last_run["nodes"].values())) == 2, dist.last_run


def test_sharded_bootstrap_on_ray_merges_to_the_whole_run(cluster, data, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run([cli(), "bootstrap", "--data", str(data), "--out", str(whole),
                    "--replicates", "400", "--judges", ",".join(JUDGES), "--backend", "cpu",
                    "--quiet"], check=True, capture_output=True)
    ds = prefdissect.load(data, judges=JUDGES)
    out = tmp_path / "ray-boot"
    dist.bootstrap(ds, shards=3, out=out, replicates=400, backend="cpu", address=cluster)
    got, want = outputs(out), outputs(whole)
    assert got["bootstrap_ci.csv"] == want["bootstrap_ci.csv"]
    assert got == want
