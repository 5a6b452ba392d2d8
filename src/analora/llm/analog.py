"""Decoder LMs on analog hardware: conversion, adapters and chips.

Every linear layer of the decoder blocks (q, k, v, o, gate, up, down) goes
onto analog tiles; embeddings, norms, rotary embeddings and attention's
matrix products stay digital (as in Li et al., arXiv 2411.17367 v4, where
attention runs on the digital side).

The LM head stays digital by default (``analog_head=True`` maps it too).
Why: in SmolLM2 and most small decoders it is tied to the input embedding,
a digital lookup table, so an analog head would store a second, noisy copy of
that matrix (28M of the model's 135M weights) beside the exact one; and its
output is the next-token distribution that log-likelihood scoring reads
directly, so its noise would measure the head rather than the adapted
blocks. The paper's 8B model has an untied head and maps every linear layer;
the flag reproduces that choice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from analora.adapters import add_lora
from analora.analog import Chip, convert, program
from analora.analog.convert import ConversionReport
from analora.errors import AnaloraError
from analora.hardware import HardwareConfig
from analora.hardware.devices import DeviceModel

HEAD = "lm_head"
TARGETS = (r"\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$",)
"""The paper's adapter placement on Llama-style blocks."""
DIGITAL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class LoraSpec:
    """The paper's LLM adapter: rank 16 on q, k, v, o, gate, up, down."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05


def to_analog(
    model: nn.Module, hardware: HardwareConfig, analog_head: bool = False
) -> ConversionReport:
    """Convert a causal LM in place (the LM head digital unless ``analog_head``)."""
    return convert(model, hardware, exclude=None if analog_head else [HEAD])


def add_adapters(model: nn.Module, lora: LoraSpec, analog: bool = True) -> PeftModel:
    """LoRA on q, k, v, o, gate, up, down: on the analog layers of a converted
    model, or on the linear layers of a digital one (``analog=False``)."""
    if analog:
        return add_lora(model, r=lora.rank, alpha=lora.alpha, dropout=lora.dropout, targets=TARGETS)
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=DIGITAL_TARGETS,
        bias="none",
    )
    return get_peft_model(model, config)


def lora_spec_of(adapter_dir: str | Path) -> LoraSpec:
    """The rank, alpha and dropout a saved adapter was trained with."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise AnaloraError(f"{adapter_dir} holds no adapter_config.json: pass an adapter directory")
    cfg = json.loads(path.read_text(encoding="utf-8"))
    return LoraSpec(int(cfg["r"]), int(cfg["lora_alpha"]), float(cfg.get("lora_dropout", 0.0)))


def attach_adapter(model: nn.Module, adapter_dir: str | Path, analog: bool = True) -> PeftModel:
    """Wrap ``model`` with the layout of a saved adapter and load its weights.

    Unlike :func:`analora.adapters.load_adapter` this does not insist on the
    hardware config the adapter was trained under: evaluating an adapter on
    other hardware (other noise levels, the PCM model) is the point here."""
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    peft_model = add_adapters(model, lora_spec_of(adapter_dir), analog=analog)
    state = load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))
    result: Any = set_peft_model_state_dict(peft_model, state)
    unfilled = [k for k in (result.missing_keys if result is not None else []) if "lora_" in k]
    if result is not None and (result.unexpected_keys or unfilled):
        first = (result.unexpected_keys or unfilled)[0]
        raise AnaloraError(
            f"the adapter in {adapter_dir} does not fit this model "
            f"({first}): use the model it was trained on"
        )
    peft_model.eval()
    return peft_model


def program_chip(model: nn.Module, seed: int, device: DeviceModel | None = None) -> Chip:
    """Program a converted model (or a peft wrapper of one) onto chip ``seed``."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    return program(base, seed=seed, device=device)
