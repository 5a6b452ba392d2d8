"""Multi-process training under ``accelerate launch`` (2 CPU processes, gloo).

With no dropout and the ``ideal`` hardware config the two processes, each
taking half of every batch, must train the same adapter as one process
taking the whole batch (DDP averages the two half-batch gradients).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from analora.cli import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _args(model: Path, out: Path) -> list[str]:
    return [
        "train",
        "--method",
        "ahwa-lora",
        "--hardware",
        "ideal",
        "--model",
        str(model),
        "--task",
        "sst2",
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-train-examples",
        "32",
        "--max-eval-examples",
        "16",
        "--max-length",
        "16",
        "--lora-dropout",
        "0",
        "--lr",
        "1e-2",
    ]


def _launcher() -> str:
    pytest.importorskip("accelerate")
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if launcher is None:
        pytest.skip("the accelerate launcher is not installed beside this Python")
    return launcher


def _launch(launcher: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        launcher,
        "launch",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        # accelerate's --cpu launcher is single-process (multi-CPU goes through
        # mpirun); --multi_gpu starts torch.distributed processes, which use
        # gloo on CPU when the trainer asks for --device cpu.
        "--multi_gpu",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "analora.cli",
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_sweep_the_chips_of_one(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    launcher = _launcher()
    run = tmp_path / "run"
    assert main(_args(tiny_dir, run)) == 0
    sweep = ["sweep", "--deployment", str(run), "--chips", "3", "--times", "0", "1y"]
    sweep += ["--data-dir", str(DATA), "--max-eval-examples", "16"]
    assert main([*sweep, "--out", str(tmp_path / "one")]) == 0
    done = _launch(launcher, [*sweep, "--out", str(tmp_path / "two")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # the main process reports
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["chip_ids"] == one["chip_ids"] and len(one["chip_ids"]) == 3
    assert two["digital"] == one["digital"]
    assert [(c["chip_seed"], c["t_s"]) for c in two["cells"]] == [
        (c["chip_seed"], c["t_s"]) for c in one["cells"]
    ]
    for a, b in zip(one["cells"], two["cells"], strict=True):
        assert a["metrics"] == pytest.approx(b["metrics"], abs=1e-6), (a, b)
    cells = json.loads((tmp_path / "two" / "cells.json").read_text())
    reads = cells["timings"]["program_s"]
    assert set(reads) == {"1000", "1001", "1002"}  # both processes' chips merged
    assert not list((tmp_path / "two").glob("cells.part*"))


def test_two_processes_train_the_same_adapter_as_one(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    launcher = _launcher()
    from safetensors.torch import load_file

    assert main(_args(tiny_dir, tmp_path / "one")) == 0
    import json

    done = _launch(launcher, _args(tiny_dir, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("adapter saved to") == 1  # the main process reports
    log = json.loads((tmp_path / "two" / "train_log.json").read_text())
    assert log["processes"] == 2 and log["step"] == 4
    one = load_file(str(tmp_path / "one" / "adapter" / "adapter_model.safetensors"))
    two = load_file(str(tmp_path / "two" / "adapter" / "adapter_model.safetensors"))
    assert set(one) == set(two)
    assert any(v.abs().sum() > 0 for k, v in one.items() if "lora_B" in k)  # it trained
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key
