"""Analog layer: the analog linear layer, model conversion, and chips."""

from analora.analog.chip import Chip, program
from analora.analog.chip_files import load_analog_model, load_chip, save_analog_model, save_chip
from analora.analog.convert import (
    ConversionReport,
    analog_layers,
    convert,
    post_update_step,
    refresh_fingerprint,
)
from analora.analog.layer import AnalogLinear

__all__ = [
    "AnalogLinear",
    "Chip",
    "ConversionReport",
    "analog_layers",
    "convert",
    "load_analog_model",
    "load_chip",
    "post_update_step",
    "program",
    "refresh_fingerprint",
    "save_analog_model",
    "save_chip",
]
