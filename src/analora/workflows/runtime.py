"""Where a workflow runs: the torch device and, under ``accelerate launch``,
the accelerator."""

from __future__ import annotations

import os
from typing import Any

from analora.errors import AnaloraError
from analora.training.registry import Method


def pick_device(name: str, method: Method | None = None) -> str:
    """``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when one is visible).
    Every method runs on either: the analog engine allocates on, and draws its
    noise with generators of, its input's device."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise AnaloraError(
            f"--device {name!r} is not a device: use cpu, cuda, cuda:N or auto"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AnaloraError(f"--device {name}: no CUDA device is visible here; use --device cpu")
    return name


def accelerator(device: str) -> Any:
    """An ``accelerate.Accelerator`` under ``accelerate launch`` with more than
    one process, else None (one process needs no wrapper)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=device == "cpu")


def process_shard(device: str) -> tuple[Any, str]:
    """Under ``accelerate launch`` with more than one process: this process's
    :class:`analora.sweep.engine.Shard` of a sweep and its device (a GPU
    process uses its own GPU, ``cuda:LOCAL_RANK``); else ``(None, device)``."""
    acc = accelerator(device)
    if acc is None:
        return None, device
    from accelerate.utils import broadcast_object_list

    from analora.sweep.engine import Shard

    def share(obj: Any) -> Any:
        box = [obj]
        broadcast_object_list(box, from_process=0)
        return box[0]

    here = str(acc.device) if device.startswith("cuda") else device
    return Shard(acc.process_index, acc.num_processes, acc.wait_for_everyone, share), here
