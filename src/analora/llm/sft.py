"""Instruction tuning with AHWA-LoRA: adapters trained under weight noise.

The pretrained decoder is converted to the analog model of a hardware config
(``paper-llm``: Gaussian weight noise of 6.7 %, drawn afresh on every
forward pass while training) and LoRA adapters train on a chat-formatted
instruction set; the analog weights never change (Li et al., arXiv
2411.17367 v4: LoRA r = 16 on q, k, v, o, gate, up, down; AdamW, lr 2e-4,
linear decay, 5 warm-up steps, weight decay 0.01).

The loop is analora's :class:`~analora.training.trainer.Trainer`, not trl's
``SFTTrainer``: the examples are pre-tokenised tensors (chat template, loss on
the answer only), which is all ``SFTTrainer`` would add here, while analora's
loop keeps the promises the rest of the library makes: checkpoints as
safetensors plus JSON (``SFTTrainer`` checkpoints hold pickled optimiser and
RNG states), a seeded data order and a resume that ends bit-identical to an
unbroken run on CPU.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from torch import nn

from analora.adapters import save_adapter, trainable_parameters
from analora.errors import AnaloraError
from analora.files import atomic_write_json
from analora.hardware import load_hardware
from analora.llm.analog import LoraSpec, add_adapters, to_analog
from analora.llm.instructions import InstructionSpec, build_pairs, sft_tensors
from analora.llm.models import load_causal_lm
from analora.training.trainer import Progress, TrainConfig, Trainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SFTSpec:
    """One instruction-tuning run (``steps`` optimiser steps of ``batch_size`` examples)."""

    model: str = "smollm2"
    hardware: str = "paper-llm"
    overrides: tuple[str, ...] = ()
    steps: int = 100
    batch_size: int = 4
    lr: float = 2e-4
    warmup_steps: int = 5
    weight_decay: float = 0.01
    lora: LoraSpec = field(default_factory=LoraSpec)
    data: InstructionSpec = field(default_factory=InstructionSpec)
    analog_head: bool = False
    seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or not 0 <= self.warmup_steps < self.steps:
            raise AnaloraError(
                "--steps and --batch-size must be >= 1 and --warmup-steps in [0, steps)"
            )


@dataclass
class SFTResult:
    model: nn.Module
    """The trained model (the adapters on the analog model)."""
    adapter: Path
    steps: int
    losses: list[float]
    examples: int


def build_sft(
    spec: SFTSpec, out: str | Path, progress: Progress | None = None
) -> tuple[Trainer, dict[str, Any]]:
    """The trainer of a run (model converted, adapters added, data tokenised)
    and what its record needs."""
    torch.manual_seed(spec.seed)
    lm = load_causal_lm(spec.model)
    hw = load_hardware(spec.hardware, list(spec.overrides))
    to_analog(lm.model, hw, spec.analog_head)
    peft_model = add_adapters(lm.model, spec.lora)
    n = spec.steps * spec.batch_size
    data = replace(spec.data, examples=n, seed=spec.seed)
    pairs = build_pairs(data, spec.data_dir)
    tensors = sft_tensors(lm.tokenizer, pairs, n, data.max_length_tokens, data.system)
    config = TrainConfig(
        epochs=1,
        batch_size=spec.batch_size,
        lr=spec.lr,
        weight_decay=spec.weight_decay,
        warmup_ratio=spec.warmup_steps / spec.steps,
        seed=spec.seed,
        eval_each_epoch=False,
    )
    trainer = Trainer(peft_model, tensors, config, Path(out), progress=progress)
    info = {
        "hardware": hw.to_dict(),
        "examples": n,
        "tokens_per_example_max": int(tensors["input_ids"].shape[1]),
        "trainable": trainable_parameters(peft_model),
    }
    return trainer, info


def sft_run(
    spec: SFTSpec, out: str | Path, resume: bool = False, progress: Progress | None = None
) -> SFTResult:
    """Train the adapters and save them to ``out/adapter`` (plus ``out/sft.json``);
    ``resume`` continues from the last checkpoint."""
    out = Path(out)
    trainer, info = build_sft(spec, out, progress)
    result = trainer.train(resume=resume)
    peft_model = trainer.model
    assert isinstance(peft_model, PeftModel)
    last = result.losses[-1] if result.losses else float("nan")
    adapter = save_adapter(
        peft_model,
        out / "adapter",
        task="instruct",
        method="ahwa-lora",
        seed=spec.seed,
        metrics={"final_loss": last},
        overwrite=True,
    )
    record = {"spec": asdict(spec), **info, "steps": result.steps, "losses": result.losses}
    atomic_write_json(out / "sft.json", record)
    log.info("instruction tuning done: %d steps, last loss %.3f", result.steps, last)
    return SFTResult(peft_model, adapter, result.steps, result.losses, info["examples"])
