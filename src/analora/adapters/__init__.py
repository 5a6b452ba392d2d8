"""Adapters: digital LoRA branches (peft) on analog layers."""

from analora.adapters.adapter_files import (
    digital_fingerprint,
    load_adapter,
    read_adapter_meta,
    save_adapter,
    save_digital_adapter,
)
from analora.adapters.lora import (
    PLACEMENTS,
    AdapterError,
    AnalogLoraLinear,
    add_lora,
    lora_config,
    select_targets,
    target_layers,
    trainable_parameters,
)

__all__ = [
    "PLACEMENTS",
    "AdapterError",
    "AnalogLoraLinear",
    "add_lora",
    "digital_fingerprint",
    "load_adapter",
    "lora_config",
    "read_adapter_meta",
    "save_adapter",
    "save_digital_adapter",
    "select_targets",
    "target_layers",
    "trainable_parameters",
]
