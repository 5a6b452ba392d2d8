"""Adapter methods for classification tasks: ``digital-lora``, ``ahwa-lora``, ``chip-lora``.

* ``digital-lora``: LoRA on the digital model's linear layers, no hardware.
* ``ahwa-lora`` (Li et al., arXiv 2411.17367): the pretrained weights are
  programmed once onto a chip; LoRA on every analog layer plus a digital task
  head train under the hardware config's generic training noise (target
  weights + fresh weight noise, converters, output noise).
* ``chip-lora``: the same adapters trained against one programmed chip, read
  at ``chip_age_s`` (its programming noise, drift, read and output noise)
  instead of the generic noise; the adapter is bound to that chip.

All three use the same adapters (rank, alpha, dropout, placement), the same
digital head and the same :class:`~analora.training.trainer.Trainer`; the
adapter methods evaluate on the chip read at ``eval_age_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import Tensor, nn

from analora.adapters import add_lora, save_adapter, select_targets
from analora.analog import Chip, program
from analora.analog.convert import mappable_layers
from analora.errors import AnaloraError, did_you_mean
from analora.hardware import HardwareConfig
from analora.training.trainer import TrainConfig, Trainer, TrainResult

ADAPTER_METHODS = ("digital-lora", "ahwa-lora", "chip-lora")


@dataclass(frozen=True)
class LoraSettings:
    """The paper's adapter: rank 8, alpha 32, dropout 0.1, every analog layer."""

    r: int = 8
    alpha: int = 32
    dropout: float = 0.1
    targets: str = "all"


@dataclass
class MethodResult:
    model: PeftModel
    chip: Chip | None
    train: TrainResult
    metrics: dict[str, float]
    adapter_dir: Path


def classification_tensors(tokenized: Any) -> dict[str, Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels`` of a tokenised split."""
    cols = ["input_ids", "attention_mask", "labels"]
    rows = tokenized.with_format("torch", columns=cols)[:]  # one dict of tensors
    return {c: rows[c] for c in cols}


@torch.no_grad()
def evaluate_classification(
    model: nn.Module, task: str, data: dict[str, Tensor], batch_size: int = 64
) -> dict[str, float]:
    """The task's metrics (0-100) on tensors from :func:`classification_tensors`."""
    from analora.tasks import compute_metrics

    model.eval()
    logits = []
    n = len(data["labels"])
    for i in range(0, n, batch_size):
        batch = {k: v[i : i + batch_size] for k, v in data.items() if k != "labels"}
        logits.append(model(**batch).logits.float())
    return compute_metrics(task, torch.cat(logits).numpy(), data["labels"].numpy())


def train_adapter(
    method: str,
    model: nn.Module,
    task: str,
    train_data: dict[str, Tensor],
    eval_data: dict[str, Tensor],
    hardware: HardwareConfig,
    config: TrainConfig,
    out_dir: str | Path,
    lora: LoraSettings | None = None,
    head: str = "classifier",
    chip_seed: int = 0,
    chip_age_s: float = 0.0,
    eval_age_s: float = 0.0,
    chip: Chip | None = None,
    resume: bool = False,
    progress: Any = None,
) -> MethodResult:
    """Train one adapter method on a sequence-classification model (which is
    converted and programmed in place for the analog methods, unless a
    ``chip`` programmed from it is given) and save the adapter."""
    if method not in ADAPTER_METHODS:
        raise AnaloraError(
            f"--method {method!r} is not an adapter method: use one of "
            f"{', '.join(ADAPTER_METHODS)}{did_you_mean(method, ADAPTER_METHODS)}"
        )
    lora = lora or LoraSettings()
    out = Path(out_dir)
    torch.manual_seed(config.seed)  # adapter initialisation
    if method == "digital-lora":
        # The same placement as on the analog model: every mappable linear but the head.
        names = [n for n, _ in mappable_layers(model, exclude=[head])]
        config_ = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=select_targets(names, lora.targets),
            modules_to_save=[head],
        )
        peft_model: PeftModel = get_peft_model(model, config_)
        chip = None

        def evaluate(m: nn.Module) -> dict[str, float]:
            return evaluate_classification(m, task, eval_data)

    else:
        if chip is None:
            chip = program(model, hardware, seed=chip_seed, exclude=[head])
        peft_model = add_lora(
            model,
            r=lora.r,
            alpha=lora.alpha,
            dropout=lora.dropout,
            targets=lora.targets,
            head=[head],
        )
        the_chip = chip

        def train_mode() -> None:
            if method == "chip-lora":
                the_chip.read(chip_age_s)  # train against this chip at this age
            else:
                the_chip.use_target()  # generic training noise on the target weights

        def evaluate(m: nn.Module) -> dict[str, float]:
            the_chip.read(eval_age_s)
            try:
                return evaluate_classification(m, task, eval_data)
            finally:
                train_mode()

        train_mode()
    trainer = Trainer(peft_model, train_data, config, out, eval_fn=evaluate, progress=progress)
    result = trainer.train(resume=resume)
    metrics = result.evals[-1] if result.evals else evaluate(peft_model)
    if method == "digital-lora":
        adapter_dir = out / "adapter"
        peft_model.save_pretrained(str(adapter_dir))  # no analog base to bind to
    else:
        adapter_dir = save_adapter(
            peft_model,
            out / "adapter",
            task=task,
            method=method,
            seed=config.seed,
            metrics=metrics,
            chip=chip if method == "chip-lora" else None,
            overwrite=True,
        )
    return MethodResult(peft_model, chip, result, metrics, adapter_dir)
