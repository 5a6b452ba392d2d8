"""aihwkit RPU configs read as analora hardware configs (aihwkit installed).

The inverse of :func:`analora.hardware.aihwkit_bridge.rpu_config_for`: what
maps is mapped, and every setting analora could not simulate is refused with
a :class:`~analora.errors.ConfigError` naming the aihwkit field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

from analora.errors import ConfigError
from analora.hardware.aihwkit_bridge import _require_aihwkit, rpu_config_for
from analora.hardware.config import HardwareConfig


def is_rpu_config(obj: Any) -> bool:
    """Whether ``obj`` is one of aihwkit's RPU configs (checked without importing aihwkit)."""
    return type(obj).__module__.startswith("aihwkit.") and hasattr(obj, "forward")


def _bits(field: str, res: float) -> int | None:
    """Converter bits from aihwkit's resolution ``1 / (2**bits - 2)``; None when off."""
    if res <= 0:
        return None
    bits = math.log2(1.0 / res + 2.0)
    if not math.isclose(bits, round(bits), abs_tol=1e-6) or round(bits) < 2:
        raise ConfigError(
            field, res, "1 / (2**bits - 2) for a whole number of bits >= 2, or -1 (off)"
        )
    return round(bits)


def _choice(field: str, value: Any, table: dict[str, str]) -> str:
    name = getattr(value, "name", str(value))
    if name not in table:
        raise ConfigError(field, name, f"one of {', '.join(table)} (no analora equivalent)")
    return table[name]


def _device_from(noise_model: Any) -> dict[str, Any]:
    inference = _require_aihwkit()
    if isinstance(noise_model, inference.PCMLikeNoiseModel):
        conv = noise_model.g_converter
        if type(conv).__name__ != "SinglePairConductanceConverter" or conv.g_min != 0.0:
            raise ConfigError(
                "noise_model.g_converter", conv, "SinglePairConductanceConverter with g_min=0"
            )
        return {
            "model": "pcm",
            "g_max_uS": float(noise_model.g_max),
            "prog_coeffs": [float(c) for c in noise_model.prog_coeff],
            "prog_coeffs_g_max_uS": float(noise_model.prog_coeff_g_max_reference),
            "t0_s": float(noise_model.t_0),
            "t_read_s": float(noise_model.t_read),
            "prog_noise_scale": float(noise_model.prog_noise_scale),
            "read_noise_scale": float(noise_model.read_noise_scale),
            "drift_scale": float(noise_model.drift_scale),
        }
    if isinstance(noise_model, inference.BaseNoiseModel):
        g_max = getattr(noise_model, "g_max", None)
        out: dict[str, Any] = {"model": f"aihwkit:{type(noise_model).__name__}"}
        if g_max is not None:
            out["g_max_uS"] = float(g_max)
        return out
    raise ConfigError("noise_model", type(noise_model).__name__, "an aihwkit BaseNoiseModel")


def _hardware_dict(rpu: Any) -> dict[str, Any]:
    f, mp = rpu.forward, rpu.mapping
    omega = float(mp.weight_scaling_omega)
    if omega not in (0.0, 1.0):
        raise ConfigError("mapping.weight_scaling_omega", omega, "0 (off) or 1")
    clip = _choice("clip.type", rpu.clip.type, {"NONE": "none", "LAYER_GAUSSIAN": "gaussian"})
    modifier = _choice(
        "modifier.type", rpu.modifier.type, {"NONE": "none", "ADD_NORMAL": "add-normal"}
    )
    drift = rpu.drift_compensation
    if drift is not None and type(drift).__name__ != "GlobalDriftCompensation":
        raise ConfigError("drift_compensation", type(drift).__name__, "GlobalDriftCompensation")
    return {
        "tile": {"max_inputs": int(mp.max_input_size), "max_outputs": int(mp.max_output_size)},
        "converters": {
            "dac_bits": _bits("forward.inp_res", f.inp_res),
            "adc_bits": _bits("forward.out_res", f.out_res),
            "input_bound": float(f.inp_bound),
            "output_bound": float(f.out_bound) if f.out_bound > 0 else None,
        },
        "periphery": {
            "input_scaling": _choice(
                "forward.noise_management",
                f.noise_management,
                {"ABS_MAX": "abs-max", "NONE": "none"},
            ),
            "bound_management": _choice(
                "forward.bound_management",
                f.bound_management,
                {"ITERATIVE": "iterative-batch", "NONE": "none"},
            ),
            "max_bm_factor": float(f.max_bm_factor),
            "max_bm_res": float(f.max_bm_res),
            "output_noise_std": float(f.out_noise),
        },
        "mapping": {
            "weight_scaling": "none"
            if omega == 0.0
            else ("channel" if mp.weight_scaling_columnwise else "tile"),
            "learn_out_scale": bool(mp.learn_out_scaling),
            "clip_sigma": float(rpu.clip.sigma) if clip == "gaussian" else None,
        },
        "training": {
            "weight_noise_std": float(rpu.modifier.std_dev) if modifier == "add-normal" else 0.0
        },
        "device": _device_from(rpu.noise_model),
        "drift_compensation": {"method": "none" if drift is None else "global"},
    }


# Fields that only matter when another one is on: not compared when it is off.
_IRRELEVANT = {
    "mapping.weight_scaling_columnwise": lambda rpu: rpu.mapping.weight_scaling_omega == 0.0,
    "clip.sigma": lambda rpu: rpu.clip.type.name == "NONE",
    "remap": lambda rpu: rpu.clip.type.name == "NONE",
    "modifier": lambda rpu: rpu.modifier.type.name == "NONE",
}
_COMPARED = ("forward", "mapping", "clip", "remap", "modifier", "pre_post")


def _differences(given: Any, implied: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(field, given value, value analora implies) for every field that differs."""
    if dataclasses.is_dataclass(given) and not isinstance(given, type):
        for f in dataclasses.fields(given):
            yield from _differences(
                getattr(given, f.name), getattr(implied, f.name, None), f"{path}.{f.name}"
            )
        return
    if isinstance(given, float) and isinstance(implied, int | float):
        if not math.isclose(given, float(implied), rel_tol=1e-9, abs_tol=1e-12):
            yield path, given, implied
    elif given != implied:
        yield path, given, implied


def hardware_from_rpu_config(rpu: Any, name: str = "aihwkit") -> HardwareConfig:
    """An analora hardware config with the settings of an aihwkit RPU config
    (``InferenceRPUConfig`` or ``TorchInferenceRPUConfig``).

    What maps is mapped (the inverse of :func:`rpu_config_for`; aihwkit's
    ITERATIVE bound management is ``iterative-batch``, its LAYER_GAUSSIAN clip
    a tile-scoped clip). Every other setting is then checked: a forward,
    mapping, clip, remap, modifier or input-range field that differs from what
    the analora config implies is refused with a :class:`ConfigError` naming
    the aihwkit field, since analora could not simulate it.
    """
    _require_aihwkit()
    if not is_rpu_config(rpu):
        raise ConfigError("hardware", type(rpu).__name__, "an aihwkit RPU config")
    data = _hardware_dict(rpu)
    data["name"] = name
    hw = HardwareConfig.from_dict(data)
    implied = rpu_config_for(hw)
    for section in _COMPARED:
        for path, given, wanted in _differences(
            getattr(rpu, section), getattr(implied, section), section
        ):
            if any(path.startswith(k) and skip(rpu) for k, skip in _IRRELEVANT.items()):
                continue
            raise ConfigError(
                path,
                given,
                f"{wanted!r}, the value the closest analora hardware config implies "
                "(analora has no setting for it)",
            )
    if hw.device.model.startswith("aihwkit:"):
        default = implied.noise_model
        for key, value in vars(rpu.noise_model).items():
            if key != "g_converter" and vars(default).get(key) != value:
                raise ConfigError(
                    f"noise_model.{key}",
                    value,
                    f"{vars(default).get(key)!r}, the class default (analora builds aihwkit "
                    "noise models with their defaults)",
                )
    return hw
