"""The Python API against the CLI's own output files: the same numbers, bit for bit.

Run from the repository root after `pip install ./python`:  pytest python/tests
The CLI binary is target/release/prefdissect (or $PREFDISSECT_BIN).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prefdissect

ROOT = Path(__file__).resolve().parents[2]


def cli():
    explicit = os.environ.get("PREFDISSECT_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "release" / "prefdissect")


def run(*args):
    out = subprocess.run([cli(), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """A paper-shaped simulated data set in the authors' format (33 judges, 16 groups)."""
    d = tmp_path_factory.mktemp("sim") / "data"
    run("simulate", "--out", d, "--seed", "4")
    return d


def read_weights(out, group):
    path = Path(out) / "fitted_paras_comparison" / f"model_{group}_fitted_paras.jsonl"
    return {json.loads(l)["model_name"]: json.loads(l)["parameters"] for l in path.read_text().splitlines()}


def test_load_names_judges_groups_properties(data):
    ds = prefdissect.load(data)
    assert ds.judges[0] == "human" and len(ds.judges) == 33
    assert len(ds.groups) == 16 and ds.groups == sorted(ds.groups)
    assert len(ds.properties) == 29 and ds.properties[0] == "harmless"


def test_map_weights_equal_the_cli_files_bit_for_bit(data, tmp_path):
    out = tmp_path / "cli"
    run("fit", "--data", data, "--out", out, "--estimator", "map", "--backend", "cpu", "--quiet")
    fit = prefdissect.fit(prefdissect.load(data), estimator="map", config="map", backend="cpu")
    assert fit.weights.shape == (33, 16, 29)
    for g, group in enumerate(fit.groups):
        files = read_weights(out, group)
        for j, judge in enumerate(fit.judges):
            assert fit.weights[j, g].tolist() == files[judge], (judge, group)
    # save() writes the CLI's files, byte for byte (summary.json apart from paths and timings).
    fit.save(tmp_path / "py")
    for f in (out / "fitted_paras_comparison").iterdir():
        assert (tmp_path / "py" / "fitted_paras_comparison" / f.name).read_bytes() == f.read_bytes()
    assert (tmp_path / "py" / "fits.jsonl").read_bytes() == (out / "fits.jsonl").read_bytes()


def test_posterior_mean_equals_the_cli_and_to_pandas_has_its_columns(data, tmp_path):
    out = tmp_path / "cli"
    judges = ["human", "gpt-4-1106-preview"]
    run("fit", "--data", data, "--out", out, "--config", ROOT / "configs/fast.json",
        "--judges", ",".join(judges), "--backend", "cpu", "--quiet")
    fit = prefdissect.fit(prefdissect.load(data), config="fast", judges=judges, backend="cpu")
    for g, group in enumerate(fit.groups):
        files = read_weights(out, group)
        for j, judge in enumerate(fit.judges):
            assert fit.weights[j, g].tolist() == files[judge]
    df = fit.to_pandas()
    assert list(df.columns) == ["judge", "group", "property", "weight", "probability", "sd",
                                "mcse", "rhat", "ess"]
    assert len(df) == 2 * 16 * 29
    assert np.allclose(df["probability"], 100 / (1 + np.exp(-df["weight"])))
    assert (df["sd"] > 0).all() and (df["mcse"] > 0).all() and (df["ess"] > 0).all()


def test_from_pandas_round_trips_a_converted_table(data, tmp_path):
    table = tmp_path / "pairs.csv"
    run("convert", "--data", data, "--out", table)
    df = pd.read_csv(table, keep_default_na=False, na_values=[""])
    df["groups"] = [g.split(";") if g else [] for g in df["groups"]]
    a = prefdissect.fit(prefdissect.from_pandas(df), config="map", backend="cpu")
    b = prefdissect.fit(prefdissect.load(data), config="map", backend="cpu")
    assert a.groups == b.groups and a.judges == b.judges
    assert np.array_equal(a.weights, b.weights)


def test_a_table_of_its_own_twelve_properties_fits_as_the_cli_does(tmp_path):
    """K = 12 with the table's own names, groups and missing labels (tests/data/k12)."""
    table = ROOT / "tests" / "data" / "k12" / "pairs.csv"
    out = tmp_path / "cli"
    run("fit", "--data", table, "--out", out, "--estimator", "map", "--backend", "cpu", "--quiet")
    ds = prefdissect.load(table)
    assert ds.properties == [f"p{k:02d}" for k in range(1, 13)]
    assert ds.groups == ["north", "south", "wide"] and ds.judges == ["alpha", "beta"]
    fit = prefdissect.fit(ds, estimator="map", config="map", backend="cpu")
    assert fit.weights.shape == (2, 3, 12)
    for g, group in enumerate(fit.groups):
        files = read_weights(out, group)
        for j, judge in enumerate(fit.judges):
            assert fit.weights[j, g].tolist() == files[judge], (judge, group)
    df = fit.to_pandas()
    assert len(df) == 2 * 3 * 12 and set(df["property"]) == set(ds.properties)


def test_bootstrap_equals_the_cli_and_similarity_has_its_rows(data, tmp_path):
    judges = ["human", "gpt-4-1106-preview", "llama-2-7b"]
    out = tmp_path / "boot"
    run("bootstrap", "--data", data, "--out", out, "--judges", ",".join(judges),
        "--replicates", 50, "--seed", 1, "--quiet")
    ds = prefdissect.load(data, judges=judges)
    boot = prefdissect.bootstrap(ds, replicates=50, seed=1)
    assert boot.csv == (out / "bootstrap_ci.csv").read_text()
    df = boot.to_pandas()
    assert {"quantity", "judge", "group", "feature", "point", "ci_low", "ci_high"} <= set(df.columns)
    assert len(df) == len(boot.csv.splitlines()) - 1
    fit = prefdissect.fit(ds, config="map", backend="cpu")
    sim = prefdissect.similarity(fit)
    assert list(sim.columns) == ["judge_a", "judge_b", "group", "similarity"]
    assert len(sim) == 3 * (16 + 1)
    assert sim["similarity"].between(-1, 1).all()
    # The scenario mean is the paper's: the mean of the per-scenario Pearson correlations.
    pair = sim[(sim.judge_a == "human") & (sim.judge_b == "gpt-4-1106-preview")]
    scen = pair[pair.group.str[0].str.isupper()]
    mean = pair[pair.group == "scenarios"]["similarity"].item()
    assert abs(scen["similarity"].mean() - mean) < 1e-12


def test_errors_are_python_exceptions_with_the_cli_messages(data, tmp_path):
    with pytest.raises(OSError, match="file not found"):
        prefdissect.load(tmp_path / "nowhere.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("groups,property:harmless,label:human\ng,1,C\n")
    with pytest.raises(ValueError, match=r"row 1, column `label:human`"):
        prefdissect.load(bad)
    small = prefdissect.load(data, judges=["human"], groups=["Code"])
    with pytest.raises(ValueError, match="setting `backend`"):
        prefdissect.fit(small, backend="gpu")
    with pytest.raises(ValueError, match="setting `judges`: `nobody`"):
        prefdissect.fit(small, judges=["nobody"])
    with pytest.raises(ValueError, match="unknown field `prior_scal`"):
        prefdissect.fit(small, config={"prior_scal": 1.0})


def test_ctrl_c_interrupts_a_long_fit(data, tmp_path):
    ds = prefdissect.load(data)
    # Python's own Ctrl-C handler, as an interactive session has it: a process started in the
    # background by a script inherits SIGINT ignored, and Python then installs no handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # SIGINT to ourselves once the fit is under way: KeyboardInterrupt, promptly.
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.time()
    try:
        with pytest.raises(KeyboardInterrupt):
            prefdissect.fit(ds, config="paper", backend="cpu")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.time() - t0 < 30
    # The engine is usable again afterwards.
    small = prefdissect.load(data, judges=["human"], groups=["Code"])
    assert prefdissect.fit(small, config="map", backend="cpu").weights.shape == (1, 1, 29)


def test_the_gil_is_released_while_the_engine_computes(data):
    ds = prefdissect.load(data, judges=["human", "gpt-4-1106-preview"])
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    def rate(work):
        count[0] = 0
        stop.clear()
        t = threading.Thread(target=spin)
        t0 = time.time()
        t.start()
        work()
        stop.set()
        t.join()
        return count[0] / (time.time() - t0)

    idle = rate(lambda: time.sleep(1.0))
    busy = rate(lambda: prefdissect.fit(ds, config="fast", backend="cpu"))
    # Held through the fit, the GIL would stop the other thread for its whole length; released,
    # that thread runs on (sharing the 2 cores with the engine's threads).
    assert busy > 0.1 * idle, (busy, idle)


def test_shards_from_the_api_merge_to_the_cli_files(data, tmp_path):
    judges = ["human", "llama-2-7b"]
    whole = tmp_path / "whole"
    run("fit", "--data", data, "--out", whole, "--config", ROOT / "configs/fast.json",
        "--judges", ",".join(judges), "--backend", "cpu", "--quiet")
    ds = prefdissect.load(data, judges=judges)
    dirs = [prefdissect.fit(ds, config="fast", backend="cpu", shard=(k, 3), out=tmp_path / f"s{k}")
            for k in (2, 0, 1)]
    prefdissect.merge(tmp_path / "merged", dirs)
    for f in (whole / "fitted_paras_comparison").iterdir():
        assert (tmp_path / "merged" / "fitted_paras_comparison" / f.name).read_bytes() == f.read_bytes()
    assert (tmp_path / "merged" / "fits.jsonl").read_bytes() == (whole / "fits.jsonl").read_bytes()
    with pytest.raises(ValueError, match="shard 1/3 is missing"):
        prefdissect.merge(tmp_path / "partial", dirs[:2])
