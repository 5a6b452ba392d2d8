"""Sweeps on a tiny deployment: determinism, aging, kill and resume, bad grids."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from analora.cli import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TIMES = ["0", "1h", "1d", "1w", "30d", "1y", "10y"]


@pytest.fixture(scope="module")
def deployment(tiny_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    run = tmp_path_factory.mktemp("dep") / "direct"
    argv = ["train", "--method", "direct", "--model", str(tiny_dir), "--task", "sst2"]
    argv += ["--data-dir", str(DATA), "--out", str(run), "--max-eval-examples", "24"]
    assert main([*argv, "--max-length", "16"]) == 0
    return run


def _sweep_argv(deployment: Path, out: Path, chips: str = "3") -> list[str]:
    return [
        "sweep",
        "--deployment",
        str(deployment),
        "--chips",
        chips,
        "--times",
        *TIMES,
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
    ]


def _without_timings(path: Path) -> dict:
    data = json.loads((path / "results.json").read_text())
    data.pop("timings")
    return data


def test_sweep_is_deterministic_and_complete(deployment, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(_sweep_argv(deployment, tmp_path / "a")) == 0
    assert "| direct | 3 |" in capsys.readouterr().out
    assert main(_sweep_argv(deployment, tmp_path / "b")) == 0
    a, b = _without_timings(tmp_path / "a"), _without_timings(tmp_path / "b")
    assert a == b
    assert len(a["cells"]) == 21 and a["chip_seeds"] == [1000, 1001, 1002]
    assert [agg["metrics"]["accuracy"]["n"] for agg in a["aggregates"]] == [3] * 7
    assert len(set(a["chip_ids"].values())) == 3  # three different chips
    assert (tmp_path / "a" / "results.csv").is_file()
    # Rerunning a finished sweep returns at once with the same results.
    assert main(_sweep_argv(deployment, tmp_path / "a")) == 0
    assert _without_timings(tmp_path / "a") == a


def test_killed_sweep_resumes_to_the_same_results(deployment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert main(_sweep_argv(deployment, tmp_path / "whole")) == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "analora.cli", *_sweep_argv(deployment, out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = out / "cells.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if cells.is_file() and len(json.loads(cells.read_text() or "{}").get("cells", [])) >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the sweep ended before it could be killed"
    assert not (out / "results.json").exists()
    assert main(_sweep_argv(deployment, out)) == 0
    assert _without_timings(out) == _without_timings(tmp_path / "whole")


def test_aging_lowers_mean_absolute_weight_without_compensation(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    from analora import load_hardware, program
    from analora.analog import analog_layers

    hw = load_hardware("paper-pcm", {"drift_compensation.method": "none"})
    chip = program(tiny_bert, hw, seed=3)
    means = []
    for t in (0.0, 3600.0, 86400.0, 31536000.0, 315360000.0):
        chip.read(t)
        weights = [layer.chip_weight.abs().mean() for _, layer in analog_layers(tiny_bert)]
        means.append(float(torch.stack(weights).mean()))
    assert all(later <= earlier for earlier, later in itertools.pairwise(means)), means
    assert means[-1] < 0.9 * means[0]


@pytest.mark.parametrize(
    ("chips", "times", "message"),
    [
        ("0", ["0"], "--chips 0 is invalid"),
        ("2", ["-5"], "must not be negative"),
        ("2", ["soon"], "is not an age"),
        ("2", ["1h", "3600"], "lists an age twice"),
    ],
)
def test_impossible_grids(deployment, tmp_path, capsys, chips, times, message) -> None:  # type: ignore[no-untyped-def]
    argv = _sweep_argv(deployment, tmp_path / "x", chips)
    start = argv.index("--times") + 1
    argv[start : start + len(TIMES)] = times
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def _with_ages(argv: list[str], ages: list[str]) -> list[str]:
    start = argv.index("--times") + 1
    end = argv.index("--data-dir")
    return [*argv[:start], *ages, *argv[end:]]


def test_other_settings_in_the_same_directory_are_refused(deployment, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = _with_ages(_sweep_argv(deployment, tmp_path / "s", "2"), ["0", "10y"])
    assert main(argv) == 0
    assert main(_with_ages(argv, ["0"])) == 2  # fewer ages: not the same sweep
    assert "other settings (sweep.times_s)" in capsys.readouterr().err
    assert main([*argv, "--first-chip-seed", "7"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_more_ages_and_chips_extend_a_sweep_bit_for_bit(deployment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = _with_ages(_sweep_argv(deployment, tmp_path / "grown", "1"), ["0", "1d"])
    assert main(small) == 0
    before = json.loads((tmp_path / "grown" / "cells.json").read_text())
    grown = _with_ages(_sweep_argv(deployment, tmp_path / "grown", "2"), ["0", "1d", "10y"])
    assert main(grown) == 0
    fresh = _with_ages(_sweep_argv(deployment, tmp_path / "fresh", "2"), ["0", "1d", "10y"])
    assert main(fresh) == 0
    a, b = _without_timings(tmp_path / "grown"), _without_timings(tmp_path / "fresh")
    assert a["cells"] == b["cells"] and len(a["cells"]) == 6
    assert a["times_s"] == [0.0, 86400.0, 315360000.0] and a["chip_seeds"] == [1000, 1001]
    after = json.loads((tmp_path / "grown" / "cells.json").read_text())
    assert after["cells"][:2] == before["cells"]  # the cells done were kept, not redone:
    kept = {k: after["timings"]["cells"][k] for k in before["timings"]["cells"]}
    assert kept == before["timings"]["cells"]  # their timings are the first run's
