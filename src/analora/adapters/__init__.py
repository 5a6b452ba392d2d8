"""Adapters: digital LoRA branches (peft) on analog layers."""

from analora.adapters.lora import (
    PLACEMENTS,
    AdapterError,
    AnalogLoraLinear,
    add_lora,
    lora_config,
    target_layers,
    trainable_parameters,
)

__all__ = [
    "PLACEMENTS",
    "AdapterError",
    "AnalogLoraLinear",
    "add_lora",
    "lora_config",
    "target_layers",
    "trainable_parameters",
]
