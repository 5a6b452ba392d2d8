"""Where a workflow runs: the torch device and, under ``accelerate launch``,
the accelerator."""

from __future__ import annotations

import os
from typing import Any

from analora.errors import AnaloraError
from analora.training.registry import Method


def pick_device(name: str, method: Method | None = None) -> str:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when one is visible
    and the method can use it; the analog engine runs on the CPU)."""
    import torch

    if name == "auto":
        use_gpu = torch.cuda.is_available() and (method is None or not method.analog)
        return "cuda" if use_gpu else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise AnaloraError(
            f"--device {name!r} is not a device: use cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AnaloraError(f"--device {name}: no CUDA device is visible here; use --device cpu")
    if method is not None and method.analog and device.type != "cpu":
        raise AnaloraError(
            f"--method {method.name} simulates the analog hardware, which runs on CPU only: "
            "use --device cpu (the digital methods run on a GPU)"
        )
    return name


def accelerator(device: str) -> Any:
    """An ``accelerate.Accelerator`` under ``accelerate launch`` with more than
    one process, else None (one process needs no wrapper)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=device == "cpu")
