"""Training checkpoints without pickle: safetensors for tensors, JSON for the rest.

A checkpoint holds what a resumed run needs to continue bit-identically on
CPU: the trainable parameters and the persistent buffers of the model
(mapping scales change under full hardware-aware training), the optimiser state, the scheduler
position, torch's global RNG state (dropout and training noise draw from it)
and the loop position. It is written to a temporary directory and renamed
into place, so a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from analora.errors import AnaloraError
from analora.files import atomic_directory

TENSORS = "tensors.safetensors"
STATE = "state.json"


class CheckpointError(AnaloraError):
    """A checkpoint is missing, incomplete or does not fit the run."""


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters and persistent buffers, by name (a chip's read
    weights are non-persistent buffers: state of the chip, not of training)."""
    persistent = set(model.state_dict(keep_vars=True))
    out = {f"param.{n}": p.detach() for n, p in model.named_parameters() if p.requires_grad}
    out.update({f"buffer.{n}": b.detach() for n, b in model.named_buffers() if n in persistent})
    return out


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loop: dict[str, Any],
) -> Path:
    """Write one checkpoint directory atomically."""
    out = Path(path)
    tensors = {k: v.cpu().contiguous().clone() for k, v in model_state(model).items()}
    opt = optimizer.state_dict()
    for idx, st in opt["state"].items():
        for key, value in st.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value).cpu().contiguous().clone()
    tensors["rng.torch"] = torch.get_rng_state()
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    state = {
        "loop": loop,
        "optim_param_groups": opt["param_groups"],
        "optim_state_keys": {str(i): sorted(st) for i, st in opt["state"].items()},
        "scheduler": sched,
    }
    with atomic_directory(out) as tmp:
        save_file(tensors, str(tmp / TENSORS))
        (tmp / STATE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    return out


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict[str, Any]:
    """Restore model, optimiser, scheduler and RNG; return the loop position."""
    d = Path(path)
    if not (d / TENSORS).is_file() or not (d / STATE).is_file():
        raise CheckpointError(f"{d} is not a complete checkpoint: start without --resume")
    try:
        tensors = load_file(str(d / TENSORS))
        state = json.loads((d / STATE).read_text(encoding="utf-8"))
    except Exception as exc:
        raise CheckpointError(
            f"{d} is unreadable ({exc.__class__.__name__}): start without --resume"
        ) from None
    expected = model_state(model)
    missing = [k for k in expected if k not in tensors]
    if missing:
        raise CheckpointError(
            f"{d} does not fit this model (missing {missing[:2]}): start without --resume"
        )
    with torch.no_grad():
        for key, target in expected.items():
            target.copy_(tensors[key])
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for idx, keys in state["optim_state_keys"].items():
        opt_state[int(idx)] = {k: tensors[f"optim.{idx}.{k}"] for k in keys}
    optimizer.load_state_dict({"state": opt_state, "param_groups": state["optim_param_groups"]})
    scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
    torch.set_rng_state(tensors["rng.torch"])
    return dict(state["loop"])
