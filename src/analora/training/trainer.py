"""The training loop shared by every method.

AdamW with linear decay after an optional linear warm-up (the paper's recipe:
Adam, linear decay, no warm-up), gradient clipping, evaluation after each
epoch, best and last checkpoints, and resume. Data order is a seeded
permutation per epoch (``derive_seed(seed, "order", epoch)``), so a resumed
run sees the same batches; with the RNG state restored from the checkpoint the
resumed run ends bit-identical to an unbroken one on CPU.

The loop knows nothing of analog hardware: a method passes ``post_step`` (for
full hardware-aware training, :func:`analora.analog.post_update_step`, which
clips and re-maps the analog weights after each optimiser step).

Devices and processes: ``device`` picks where one process trains (``cpu``,
``cuda``, ``cuda:1``, ...). Under ``accelerate launch`` pass the
``accelerate.Accelerator``: the model is wrapped for data parallelism, each
process takes its share of every batch (``--batch-size`` stays the global
batch, so the gradient equals the single-process one), and only the main
process evaluates, writes checkpoints and reports progress. Process ``r > 0``
draws its dropout and noise from ``derive_seed(seed, "rank", r)``; bit-identical
resume is promised for one process on CPU.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from analora.errors import AnaloraError
from analora.files import atomic_write_json
from analora.seeds import derive_seed
from analora.training.batching import batch_indices, n_batches, sequence_lengths, trim_padding
from analora.training.checkpoint import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)

Batch = dict[str, Tensor]
EvalFn = Callable[[nn.Module], dict[str, float]]
Progress = Callable[[dict[str, Any]], None]
"""Called after every optimiser step with step, total, loss, lr, steps/s, ETA."""


class TrainError(AnaloraError):
    """A training run cannot start or continue as asked."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and loop settings (Li et al., arXiv 2411.17367: lr 2e-4 for AHWA-LoRA,
    batch 32, linear decay, no warm-up)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    seed: int = 0
    eval_each_epoch: bool = True
    primary_metric: str | None = None
    group_by_length: bool = True
    """Batches of similar lengths, each padded to its own longest row
    (:mod:`analora.training.batching`); False keeps the plain seeded order."""

    def __post_init__(self) -> None:
        checks = [
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "an integer >= 1"),
            (
                "batch_size",
                isinstance(self.batch_size, int) and self.batch_size >= 1,
                "an integer >= 1",
            ),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a number > 0"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "a number in [0, 1)"),
            (
                "max_grad_norm",
                self.max_grad_norm is None or self.max_grad_norm > 0,
                "a number > 0 or null",
            ),
            ("seed", isinstance(self.seed, int) and self.seed >= 0, "an integer >= 0"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise TrainError(
                    f"{name}={getattr(self, name)!r} is invalid: give {allowed} ({flag})"
                )


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    best_metric: float | None = None
    resumed_from_step: int | None = None
    prior_wall_s: float | None = 0.0
    """Wall time of the loop kept in the checkpoint a resumed run started from
    (0 for a fresh run; None when that checkpoint predates the record)."""


def _batches(
    data: Mapping[str, Tensor],
    batch_size: int,
    seed: int,
    epoch: int,
    min_size: int = 1,
    group_by_length: bool = True,
) -> list[Batch]:
    n = len(next(iter(data.values())))
    lengths = sequence_lengths(data) if group_by_length else None
    return [
        trim_padding({k: v[rows] for k, v in data.items()})
        for rows in batch_indices(n, batch_size, seed, epoch, min_size, lengths)
    ]


def linear_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up from 0, then linear decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


class Trainer:
    """Trains the parameters of ``model`` that require gradients."""

    def __init__(
        self,
        model: nn.Module,
        train_data: Mapping[str, Tensor],
        config: TrainConfig,
        out_dir: str | Path,
        eval_fn: EvalFn | None = None,
        post_step: Callable[[nn.Module], object] | None = None,
        progress: Progress | None = None,
        device: str | torch.device = "cpu",
        accelerator: Any = None,
    ) -> None:
        lengths = {len(v) for v in train_data.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise TrainError(
                "training data must be non-empty tensors of one length: check the dataset"
            )
        self.acc = accelerator
        self._wall: tuple[float, float | None] = (time.perf_counter(), 0.0)
        self.rank = 0 if accelerator is None else int(accelerator.process_index)
        self.world = 1 if accelerator is None else int(accelerator.num_processes)
        self.device = torch.device(device) if accelerator is None else accelerator.device
        self.model = model.to(self.device)
        # The module the forward pass runs through (data-parallel wrapper or the model).
        self.runner: nn.Module = model
        if accelerator is not None and self.world > 1:
            self.runner = accelerator.prepare_model(model)
        self.data = dict(train_data)
        self.config = config
        self.out = Path(out_dir)
        self.eval_fn = eval_fn
        self.post_step = post_step
        self.progress = progress
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainError(
                "the model has no trainable parameters: add adapters or unfreeze weights"
            )
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        n = lengths.pop()
        if config.batch_size < self.world or n < self.world:
            raise TrainError(
                f"batch size {config.batch_size} and {n} examples cannot be shared by "
                f"{self.world} processes: raise --batch-size or use fewer processes"
            )
        self.steps_per_epoch = n_batches(n, config.batch_size, self.world)
        self.total_steps = self.steps_per_epoch * config.epochs
        warmup = int(config.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_schedule(self.total_steps, warmup)
        )

    @property
    def last_dir(self) -> Path:
        return self.out / "checkpoints" / "last"

    @property
    def best_dir(self) -> Path:
        return self.out / "checkpoints" / "best"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _barrier(self) -> None:
        if self.acc is not None and self.world > 1:
            self.acc.wait_for_everyone()

    def train(self, resume: bool = False, stop_after_steps: int | None = None) -> TrainResult:
        """Run to the end (or to ``stop_after_steps`` optimiser steps, which
        simulates a killed run). ``resume`` continues from the last checkpoint."""
        cfg = self.config
        loop: dict[str, Any] = {"step": 0, "epoch": 0, "losses": [], "evals": [], "best": None}
        result = TrainResult(steps=0)
        if resume and not self.last_dir.exists():
            # Killed before its first checkpoint: nothing was kept, so the
            # continuation is a fresh start (which ends the same).
            log.info("no checkpoint in %s yet: starting from the beginning", self.out)
            resume = False
        if resume:
            loop = load_checkpoint(self.last_dir, self.model, self.optimizer, self.scheduler)
            result.resumed_from_step = loop["step"]
            result.prior_wall_s = loop.pop("wall_s", None)
            if not self.is_main:
                torch.manual_seed(derive_seed(cfg.seed, "rank", self.rank, loop["step"]))
        else:
            torch.manual_seed(
                cfg.seed if self.is_main else derive_seed(cfg.seed, "rank", self.rank)
            )
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        start_step = loop["step"]
        # Kept in checkpoints only (train_log.json stays bit-identical across a
        # kill and resume): the loop time the saved state cost, without the
        # work a kill threw away.
        self._wall = (start, result.prior_wall_s)
        for epoch in range(loop["epoch"], cfg.epochs):
            self.model.train()
            batches = _batches(
                self.data, cfg.batch_size, cfg.seed, epoch, self.world, cfg.group_by_length
            )
            for i in range(loop["step"] - epoch * self.steps_per_epoch, len(batches)):
                loss = self._step(batches[i])
                loop["step"] += 1
                loop["losses"].append(loss)
                self._report(loop["step"], loss, start, start_step)
                if stop_after_steps is not None and loop["step"] - start_step >= stop_after_steps:
                    self._save_last(loop)
                    result.steps, result.losses = loop["step"], loop["losses"]
                    return result
            loop["epoch"] = epoch + 1
            if self.eval_fn is not None and cfg.eval_each_epoch and self.is_main:
                metrics = self.eval_fn(self.model)
                loop["evals"].append(metrics)
                key = cfg.primary_metric or next(iter(metrics))
                if loop["best"] is None or metrics[key] > loop["best"]:
                    loop["best"] = metrics[key]
                    save_checkpoint(
                        self.best_dir, self.model, self.optimizer, self.scheduler, self._timed(loop)
                    )
            self._save_last(loop)
        if self.is_main:
            log_record = {
                "config": asdict(cfg),
                "device": str(self.device),
                "processes": self.world,
                **loop,
            }
            atomic_write_json(self.out / "train_log.json", log_record)
        self._barrier()
        result.steps, result.losses, result.evals = loop["step"], loop["losses"], loop["evals"]
        result.best_metric = loop["best"]
        return result

    def _local(self, batch: Batch) -> Batch:
        """This process's share of a global batch, on its device."""
        if self.world > 1:
            batch = {k: v[self.rank :: self.world] for k, v in batch.items()}
        return {k: v.to(self.device) for k, v in batch.items()}

    def _step(self, batch: Batch) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        out = self.runner(**self._local(batch))
        loss = out.loss if hasattr(out, "loss") else out["loss"]
        if not torch.isfinite(loss):
            raise TrainError(f"the loss became {loss.item()}: lower --lr")
        loss.backward()
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        if self.post_step is not None:
            self.post_step(self.model)
        if self.world > 1:
            loss = self.acc.reduce(loss.detach(), reduction="mean")
        return float(loss.detach())

    def _timed(self, loop: dict[str, Any]) -> dict[str, Any]:
        start, prior = self._wall
        if prior is None:
            return loop
        return {**loop, "wall_s": prior + time.perf_counter() - start}

    def _save_last(self, loop: dict[str, Any]) -> None:
        if self.is_main:
            save_checkpoint(
                self.last_dir, self.model, self.optimizer, self.scheduler, self._timed(loop)
            )
        self._barrier()

    def _report(self, step: int, loss: float, start: float, start_step: int) -> None:
        if self.progress is None or not self.is_main:
            return
        elapsed = time.perf_counter() - start
        rate = (step - start_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total_steps - step) / rate if rate > 0 else float("inf")
        self.progress(
            {
                "step": step,
                "total": self.total_steps,
                "loss": loss,
                "lr": self.scheduler.get_last_lr()[0],
                "steps_per_s": rate,
                "eta_s": eta,
            }
        )
