"""analora: deploy pretrained transformers onto simulated analog in-memory
computing chips, programmed once and adapted with digital LoRA adapters.

The top-level names are imported on first use, so that the parts that need no
torch (reading results, reports) stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

from analora.errors import AnaloraError, ChipError, ConfigError, ModelLoadError

__version__ = "0.1.0"

_LAZY = {
    "AnalogLinear": "analora.analog",
    "Chip": "analora.analog",
    "convert": "analora.analog",
    "load_chip": "analora.analog",
    "program": "analora.analog",
    "save_chip": "analora.analog",
    "HardwareConfig": "analora.hardware",
    "load_hardware": "analora.hardware",
}

__all__ = [
    "AnalogLinear",
    "AnaloraError",
    "Chip",
    "ChipError",
    "ConfigError",
    "HardwareConfig",
    "ModelLoadError",
    "convert",
    "load_chip",
    "load_hardware",
    "program",
    "save_chip",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'analora' has no attribute {name!r}")
