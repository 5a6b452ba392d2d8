"""Crashes lose nothing: SIGKILL ``train`` and ``sweep`` at random points.

Each trial starts the command in a subprocess, kills it with SIGKILL at a
seeded random moment, reruns it (``--resume`` for ``train``, the same command
for ``sweep``) and compares the final artefacts with those of an unbroken run:
bit-identical on CPU with the same seeds. A run that finishes before its
kill moment is checked too, and its trial retries with the kill sooner. Five
trials of each run in the default suite; ``-m slow`` runs twenty.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TRAIN_FILES = ("adapter/adapter_model.safetensors", "adapter/analora_adapter.json",
               "train_log.json", "deployment.json")  # fmt: skip


def _train_argv(tiny: Path, out: Path) -> list[str]:
    return [
        "train",
        "--method",
        "ahwa-lora",
        "--model",
        str(tiny),
        "--task",
        "sst2",
        "--data-dir",
        str(DATA),
        "--max-train-examples",
        "48",
        "--max-eval-examples",
        "16",
        "--max-length",
        "16",
        "--batch-size",
        "8",
        "--epochs",
        "4",
        "--out",
        str(out),
    ]


def _sweep_argv(run: Path, out: Path) -> list[str]:
    return [
        "sweep",
        "--deployment",
        str(run),
        "--chips",
        "3",
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
    ]


def _run(argv: list[str], kill_after_s: float | None = None) -> tuple[int, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "analora.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after_s is not None:
        try:
            proc.wait(timeout=kill_after_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    rc = proc.returncode
    assert rc in (0, -signal.SIGKILL), err.decode()[-2000:]
    return rc, time.perf_counter() - start


def _sweep_result(out: Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    data.pop("timings")
    return data


def _trials(n: int, tiny_dir: Path, tmp_path: Path) -> None:
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    whole = tmp_path / "whole"
    # A first run warms the caches (tokenised data, compiled kernels), so the
    # kill times are fractions of what a run costs once they are warm.
    _run(_train_argv(tiny_dir, tmp_path / "warm-up"))
    _, train_s = _run(_train_argv(tiny_dir, whole))
    _, sweep_s = _run(_sweep_argv(whole, tmp_path / "whole-sweep"))
    reference = {f: (whole / f).read_bytes() for f in TRAIN_FILES}
    sweep_reference = _sweep_result(tmp_path / "whole-sweep")
    rng = random.Random(1234)
    killed = {"train": 0, "sweep": 0}
    # The kill moment is a fraction of the measured wall time; when a busy
    # machine turns quiet, runs get faster and would finish first. A run that
    # was not killed is still checked, then the trial retries at half the time.
    scale = {"train": 1.0, "sweep": 1.0}
    for trial in range(n):
        for attempt in range(3):
            run = tmp_path / f"run{trial}-{attempt}"
            kill_s = rng.uniform(0.3, 0.95) * train_s * scale["train"]
            rc, _ = _run(_train_argv(tiny_dir, run), kill_after_s=kill_s)
            if rc != 0:
                argv = _train_argv(tiny_dir, run)
                _run([*argv, "--resume"] if (run / "run.json").is_file() else argv)
            for f in TRAIN_FILES:
                assert (run / f).read_bytes() == reference[f], (trial, f)
            if rc != 0:
                killed["train"] += 1
                break
            scale["train"] /= 2
        for attempt in range(3):
            out = tmp_path / f"sweep{trial}-{attempt}"
            kill_s = rng.uniform(0.3, 0.95) * sweep_s * scale["sweep"]
            rc, _ = _run(_sweep_argv(whole, out), kill_after_s=kill_s)
            if rc != 0:
                _run(_sweep_argv(whole, out))
            assert _sweep_result(out) == sweep_reference, trial
            assert not list(out.glob(".*")), "a temporary file was left behind"
            if rc != 0:
                killed["sweep"] += 1
                break
            scale["sweep"] /= 2
    assert killed["train"] >= n // 2 and killed["sweep"] >= n // 2, killed


def test_kill_train_and_sweep_five_times(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _trials(5, tiny_dir, tmp_path)


@pytest.mark.slow
def test_kill_train_and_sweep_twenty_times(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _trials(20, tiny_dir, tmp_path)
