"""``training_memory``: the memory one training method needs, measured.

The paper reports that AHWA-LoRA trains with about 13 % less memory than
full hardware-aware training, because memory is dominated by simulating the
hardware in the forward and backward passes, not by optimiser state. This
measures that claim on the methods as analora runs them.

A peak is a property of a process, so every measurement runs in a fresh
Python process (``python -m analora.workflows.memory``) that loads the run
the way :func:`~analora.workflows.train_run` does (model, task data, chip),
reads its memory, then runs the method for ``steps`` optimiser steps (one
epoch of ``steps x batch`` training examples, the task's recipe otherwise,
one evaluation of one batch) and reads the peak:

* on CPU, resident memory (``VmHWM`` of ``/proc/self/status``; the whole
  process: Python, torch, the model, the data);
* on CUDA, ``torch.cuda.max_memory_allocated`` (tensors only, as the
  papers' GPU figures are).

So CPU and CUDA figures are not comparable with each other; ratios between
methods on one device are the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.provenance import peak_rss_mib
from analora.workflows.train import RunSpec

MEMORY_FORMAT = "analora-memory/1"


@dataclass(frozen=True)
class MemoryMeasurement:
    """One method's training memory (MiB); see the module docstring."""

    method: str
    task: str
    device: str
    measure: str
    """What was read: ``peak RSS (VmHWM)`` or ``cuda max_memory_allocated``."""
    steps: int
    batch_size: int
    max_length: int
    loaded_MiB: float
    """Before the method runs: the model, the tokenised data (and a given chip)."""
    peak_MiB: float
    """The peak of the whole process, training included."""
    trainable: int
    """Trainable parameters of the method's model."""
    lora_dropout: float | None = None
    """The adapters' dropout (None for the full-weight methods)."""

    @property
    def training_MiB(self) -> float:
        """What training adds to the loaded process."""
        return self.peak_MiB - self.loaded_MiB


def measurement_spec(spec: RunSpec, steps: int) -> RunSpec:
    """``spec`` cut to ``steps`` optimiser steps of one epoch and one batch of
    evaluation (the task's recipe for everything else)."""
    if steps < 1:
        raise AnaloraError(f"steps must be at least 1, got {steps}: pass --memory-steps 1 or more")
    full = spec.resolved()
    assert full.batch_size is not None
    return replace(
        full,
        epochs=1,
        max_train_examples=steps * full.batch_size,
        max_eval_examples=full.batch_size,
    )


def training_memory(
    spec: RunSpec,
    *,
    steps: int = 3,
    data_dir: str | Path | None = None,
    device: str = "cpu",
) -> MemoryMeasurement:
    """Train ``spec`` for ``steps`` steps in a fresh process and return its memory."""
    from analora.training.registry import get_method

    if get_method(spec.method).trains == "nothing":
        raise AnaloraError(f"--method {spec.method} trains nothing: measure a training method")
    cut = measurement_spec(spec, steps)
    request = {"spec": asdict(cut), "steps": steps, "device": device, "data_dir": data_dir}
    command = [sys.executable, "-m", "analora.workflows.memory", json.dumps(request, default=str)]
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        raise AnaloraError(f"measuring {spec.method}'s training memory failed: {lines[-1]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return MemoryMeasurement(**record)


def _measure_here(request: dict[str, Any]) -> dict[str, Any]:
    """The child's side: load, read, train, read (call in a fresh process)."""
    import torch

    from analora.training.methods import run_method
    from analora.workflows.train import _prepare, _trainable

    spec = RunSpec(**{**request["spec"], "set": tuple(request["spec"]["set"] or ())})
    device = request["device"]
    cuda = torch.device(device).type == "cuda"
    with tempfile.TemporaryDirectory(prefix="analora-memory-") as tmp:
        prepared = _prepare(spec, Path(tmp) / "run", request["data_dir"], False, device)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            loaded = torch.cuda.memory_allocated(device) / 2**20
        else:
            loaded = peak_rss_mib()
        result = run_method(prepared.job)
        if cuda:
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) / 2**20
        else:
            peak = peak_rss_mib()
        trainable = sum(_trainable(result.model, prepared.job.spec).values())
    steps = result.train.steps if result.train is not None else 0
    if steps != request["steps"]:
        raise AnaloraError(f"the measured run took {steps} steps, not {request['steps']}")
    assert spec.batch_size is not None and spec.max_length is not None
    return asdict(
        MemoryMeasurement(
            method=spec.method,
            task=spec.task,
            device=device,
            measure="cuda max_memory_allocated" if cuda else "peak RSS (VmHWM)",
            steps=steps,
            batch_size=spec.batch_size,
            max_length=spec.max_length,
            loaded_MiB=loaded,
            peak_MiB=peak,
            trainable=trainable,
            lora_dropout=spec.lora_dropout if prepared.job.spec.trains == "adapter" else None,
        )
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m analora.workflows.memory REQUEST_JSON``: one measurement,
    printed as one JSON line (used by :func:`training_memory`)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    args = sys.argv[1:] if argv is None else argv
    try:
        record = _measure_here(json.loads(args[0]))
    except AnaloraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
