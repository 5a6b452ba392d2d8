"""analora: deploy pretrained transformers onto simulated analog in-memory
computing chips, programmed once and adapted with digital LoRA adapters."""

from analora.analog import AnalogLinear, Chip, convert, load_chip, program, save_chip
from analora.errors import AnaloraError, ChipError, ConfigError, ModelLoadError
from analora.hardware import HardwareConfig, load_hardware

__version__ = "0.1.0"

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
