"""Hardware layer: configs, presets, device physics and quantisers.

Pure data and tensor functions; no ``nn.Module`` and no transformers here.
"""

from analora.hardware.config import (
    ConverterConfig,
    DeviceConfig,
    DriftCompensationConfig,
    HardwareConfig,
    MappingConfig,
    PeripheryConfig,
    TileConfig,
    TrainingConfig,
)
from analora.hardware.presets import load_hardware, preset_names

__all__ = [
    "ConverterConfig",
    "DeviceConfig",
    "DriftCompensationConfig",
    "HardwareConfig",
    "MappingConfig",
    "PeripheryConfig",
    "TileConfig",
    "TrainingConfig",
    "load_hardware",
    "preset_names",
]
