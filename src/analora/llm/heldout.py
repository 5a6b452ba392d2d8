"""Instruction loss on held-out examples: digital, analog before and after
AHWA-LoRA, on the same chips. A finer measure than accuracy on a few dozen
items of whether the adapters moved the noisy model back towards the digital
one (the mean cross-entropy per answer token; lower is better)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from analora.hardware import load_hardware
from analora.llm.analog import attach_adapter, program_chip, to_analog
from analora.llm.instructions import InstructionSpec, build_pairs, sft_tensors
from analora.llm.models import load_causal_lm

HELDOUT_SEED = 1
"""The instruction sets' seed for held-out examples (training uses the run's seed, 0)."""


@torch.no_grad()
def answer_loss(model: nn.Module, data: dict[str, Tensor], batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token (the labels that are not -100)."""
    model.eval()
    total, count = 0.0, 0
    n = len(data["input_ids"])
    for i in range(0, n, batch_size):
        batch = {k: v[i : i + batch_size] for k, v in data.items()}
        tokens = int((batch["labels"][:, 1:] != -100).sum())  # the shifted targets
        total += float(model(**batch).loss) * tokens
        count += tokens
    return total / max(count, 1)


def heldout_losses(
    model_spec: str,
    adapter: str | Path,
    examples: int = 32,
    max_tokens: int = 192,
    chips: Sequence[int] = (0, 1),
    hardware: str = "paper-llm",
) -> dict[str, Any]:
    """{digital, analog_before, analog_after}: the loss (analog: mean and per chip)."""
    lm = load_causal_lm(model_spec)
    spec = InstructionSpec(examples=examples, max_length_tokens=max_tokens, seed=HELDOUT_SEED)
    data = sft_tensors(lm.tokenizer, build_pairs(spec), examples, max_tokens)
    out: dict[str, Any] = {"examples": examples, "digital": answer_loss(lm.model, data)}
    to_analog(lm.model, load_hardware(hardware))
    out["analog_before"] = _on_chips(lm.model, data, chips)
    out["analog_after"] = _on_chips(attach_adapter(lm.model, adapter), data, chips)
    return out


def _on_chips(model: nn.Module, data: dict[str, Tensor], chips: Sequence[int]) -> dict[str, Any]:
    values = []
    for seed in chips:
        with program_chip(model, seed).reading(0.0):
            values.append(answer_loss(model, data))
    return {"mean": statistics.fmean(values), "chips": values}
