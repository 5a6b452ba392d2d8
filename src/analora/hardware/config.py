"""Hardware configs: a frozen, validated description of one chip design.

A hardware config is a tree of small frozen dataclasses. Each field carries its
unit in its name or docstring; ``None`` means "off / ideal". Every dataclass
validates itself on construction and raises :class:`~analora.errors.ConfigError`
naming the dotted field, the value, what is allowed and the CLI flag.

The defaults of each section are the settings of the paper (Li et al., arXiv
2411.17367, "Hardware model used"), which follow IBM aihwkit's
``TorchInferenceRPUConfig`` with ``PCMLikeNoiseModel`` and
``GlobalDriftCompensation``. Named presets live in ``presets/*.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import yaml

from analora.errors import ConfigError, did_you_mean

FLAG = "--set"


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans: only ``true`` and
    ``false`` are booleans, so ``yes``, ``no``, ``on`` and ``off`` stay strings
    (YAML 1.1 reads ``drift_compensation.method=off`` as False)."""


# A copy without YAML 1.1's booleans, then YAML 1.2's.
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(text: str) -> Any:
    """YAML text with YAML 1.2 booleans (see :class:`Yaml12Loader`)."""
    return yaml.load(text, Loader=Yaml12Loader)  # a SafeLoader subclass: no objects built


def _err(section: str, name: str, value: object, allowed: str) -> ConfigError:
    path = f"{section}.{name}" if section else name
    return ConfigError(path, value, allowed, f"{FLAG} {path}=...")


def _check_int(section: str, name: str, value: object, lo: int, hi: int, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        extra = " or null (off)" if optional else ""
        raise _err(section, name, value, f"an integer in [{lo}, {hi}]{extra}")


def _check_float(
    section: str,
    name: str,
    value: object,
    lo: float,
    hi: float = math.inf,
    optional: bool = False,
    lo_open: bool = False,
) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        upper = "inf)" if hi == math.inf else f"{hi}]"
        extra = " or null (off)" if optional else ""
        raise _err(section, name, value, f"a number in {bracket}{lo}, {upper}{extra}")


def _check_choice(section: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = did_you_mean(str(value), choices)
        raise _err(section, name, value, f"one of {', '.join(choices)}{hint}")


def _check_bool(section: str, name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _err(section, name, value, "true or false")


@dataclass(frozen=True)
class TileConfig:
    """Crossbar geometry. Layers larger than one tile are split into equal
    chunks over inputs and outputs (as aihwkit's ``TileModuleArray``); the
    partial sums of input chunks are added digitally."""

    section: ClassVar[str] = "tile"
    max_inputs: int = 512
    """Rows of a tile: the most layer inputs one tile takes."""
    max_outputs: int = 512
    """Columns of a tile: the most layer outputs one tile gives."""

    def __post_init__(self) -> None:
        _check_int(self.section, "max_inputs", self.max_inputs, 1, 1 << 20, False)
        _check_int(self.section, "max_outputs", self.max_outputs, 1, 1 << 20, False)


@dataclass(frozen=True)
class ConverterConfig:
    """DAC at the tile inputs and ADC at its outputs.

    Resolution follows aihwkit: a converter of ``b`` bits has step
    ``2 * bound / (2**b - 2)`` over ``[-bound, bound]`` (PAPER.md: 8-bit,
    resolution 1/(2^8 - 2))."""

    section: ClassVar[str] = "converters"
    dac_bits: int | None = 8
    """Input (DAC) bits; null: no input quantisation."""
    adc_bits: int | None = 8
    """Output (ADC) bits; null: no output quantisation."""
    input_bound: float = 1.0
    """DAC full scale, in units of the scaled input (abs-max scaling maps to [-1, 1])."""
    output_bound: float | None = 12.0
    """ADC full scale, in units of the normalised tile output; null: unbounded."""

    def __post_init__(self) -> None:
        _check_int(self.section, "dac_bits", self.dac_bits, 2, 24, True)
        _check_int(self.section, "adc_bits", self.adc_bits, 2, 24, True)
        _check_float(self.section, "input_bound", self.input_bound, 0.0, lo_open=True)
        _check_float(
            self.section, "output_bound", self.output_bound, 0.0, optional=True, lo_open=True
        )
        if self.adc_bits is not None and self.output_bound is None:
            raise _err(self.section, "output_bound", None, "a positive number when adc_bits is set")

    @property
    def input_step(self) -> float | None:
        """DAC step in scaled-input units, or None when the DAC is ideal."""
        if self.dac_bits is None:
            return None
        return 2.0 * self.input_bound / (2**self.dac_bits - 2)

    @property
    def output_step(self) -> float | None:
        """ADC step in normalised-output units, or None when the ADC is ideal."""
        if self.adc_bits is None or self.output_bound is None:
            return None
        return 2.0 * self.output_bound / (2**self.adc_bits - 2)


InputScaling = Literal["abs-max", "none"]
BoundManagement = Literal["iterative", "iterative-batch", "none"]


@dataclass(frozen=True)
class PeripheryConfig:
    """Input scaling, bound management and output noise of the analog MVM."""

    section: ClassVar[str] = "periphery"
    input_scaling: str = "abs-max"
    """``abs-max``: each input vector is divided by its absolute maximum before
    the DAC and the output multiplied back (aihwkit noise management ABS_MAX)."""
    bound_management: str = "iterative"
    """``iterative``: an input vector whose output saturates the ADC is re-run
    with its input halved, until it fits (per vector, so one example never
    changes another's result). ``iterative-batch``: aihwkit's torch-tile rule,
    the whole batch is re-run when any vector saturates. ``none``: clip."""
    max_bm_factor: float = 1000.0
    """Bound management stops once the input reduction exceeds this factor."""
    max_bm_res: float = 0.25
    """...or once the reduction exceeds ``max_bm_res / input_step`` (aihwkit)."""
    output_noise_std: float = 0.04
    """Std of additive Gaussian output noise before the ADC, in normalised
    output units, in training and inference (PAPER.md: 0.04)."""

    def __post_init__(self) -> None:
        _check_choice(self.section, "input_scaling", self.input_scaling, ("abs-max", "none"))
        _check_choice(
            self.section,
            "bound_management",
            self.bound_management,
            ("iterative", "iterative-batch", "none"),
        )
        _check_float(self.section, "max_bm_factor", self.max_bm_factor, 1.0)
        _check_float(self.section, "max_bm_res", self.max_bm_res, 0.0, lo_open=True)
        _check_float(self.section, "output_noise_std", self.output_noise_std, 0.0)


@dataclass(frozen=True)
class MappingConfig:
    """How digital weights become normalised tile weights."""

    section: ClassVar[str] = "mapping"
    weight_scaling: str = "channel"
    """``channel``: each output row of a tile is scaled to max |w| = 1 and the
    scale is applied digitally after the ADC; ``tile``: one scale per tile;
    ``none``: weights go to the tile unscaled."""
    learn_out_scale: bool = True
    """A learned digital scale per tile column (aihwkit ``learn_out_scaling``,
    column-wise), initialised to 1; it trains only with the analog weights."""
    clip_sigma: float | None = 3.0
    """Clip mapped weights at this many standard deviations; null: no clip."""
    clip_scope: str = "tile"
    """Std over the whole ``tile`` (the paper's code) or per ``channel`` (the
    paper's text)."""

    def __post_init__(self) -> None:
        _check_choice(
            self.section, "weight_scaling", self.weight_scaling, ("channel", "tile", "none")
        )
        _check_bool(self.section, "learn_out_scale", self.learn_out_scale)
        _check_float(self.section, "clip_sigma", self.clip_sigma, 0.0, optional=True, lo_open=True)
        _check_choice(self.section, "clip_scope", self.clip_scope, ("tile", "channel"))


@dataclass(frozen=True)
class TrainingConfig:
    """Non-idealities simulated only while training (hardware-aware training)."""

    section: ClassVar[str] = "training"
    weight_noise_std: float = 0.067
    """Additive Gaussian weight noise, relative to the tile's max |w| (the full
    scale after mapping), drawn afresh for every forward pass and never stored
    (aihwkit ``WeightModifierType.ADD_NORMAL``; PAPER.md: 0.067)."""

    def __post_init__(self) -> None:
        _check_float(self.section, "weight_noise_std", self.weight_noise_std, 0.0)


DEVICE_MODELS = ("pcm", "ideal", "gaussian")


@dataclass(frozen=True)
class DeviceConfig:
    """The device model that turns target conductances into programmed ones
    and ages them. ``pcm`` is the statistical PCM model of Nandakumar et al.
    (ICECS 2019) as in aihwkit's ``PCMLikeNoiseModel`` (defaults below are its
    defaults); ``ideal`` programs exactly and never drifts; ``gaussian`` adds
    one draw of Gaussian weight noise per chip (``weight_noise_std``) and never
    drifts (the evaluation noise of Li et al., arXiv 2411.17367 v4, for decoder
    LLMs); ``aihwkit:<Class>`` uses that noise model from ``aihwkit.inference``
    through the bridge."""

    section: ClassVar[str] = "device"
    model: str = "pcm"
    g_max_uS: float = 25.0
    """Conductance the largest |w| of a tile maps to (one differential pair)."""
    prog_coeffs: tuple[float, ...] = (0.26348, 1.9650, -1.1731)
    """Programming-noise std polynomial in u = G/g_max, in uS at g_max = 25 uS."""
    prog_coeffs_g_max_uS: float = 25.0
    """The g_max at which ``prog_coeffs`` were fitted (the std scales with g_max)."""
    t0_s: float = 20.0
    """Drift reference time: G(t) = G_prog ((t + t0) / t0)^(-nu)."""
    t_read_s: float = 250e-9
    """Read duration in the 1/f read-noise fit."""
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0
    weight_noise_std: float | None = None
    """``gaussian`` model: std of the programmed weights' error, relative to the
    tile's max |w| (as ``training.weight_noise_std``); null for other models."""

    def __post_init__(self) -> None:
        s = self.section
        if not (
            self.model in DEVICE_MODELS
            or (isinstance(self.model, str) and self.model.startswith("aihwkit:"))
        ):
            hint = did_you_mean(str(self.model), DEVICE_MODELS)
            raise _err(s, "model", self.model, f"pcm, ideal or aihwkit:<NoiseModelClass>{hint}")
        _check_float(s, "g_max_uS", self.g_max_uS, 0.0, lo_open=True)
        if not isinstance(self.prog_coeffs, tuple) or not all(
            isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.prog_coeffs
        ):
            raise _err(s, "prog_coeffs", self.prog_coeffs, "a list of numbers")
        _check_float(s, "prog_coeffs_g_max_uS", self.prog_coeffs_g_max_uS, 0.0, lo_open=True)
        _check_float(s, "t0_s", self.t0_s, 0.0, lo_open=True)
        _check_float(s, "t_read_s", self.t_read_s, 0.0, lo_open=True)
        for name in ("prog_noise_scale", "read_noise_scale", "drift_scale"):
            _check_float(s, name, getattr(self, name), 0.0)
        _check_float(s, "weight_noise_std", self.weight_noise_std, 0.0, optional=True)
        if self.model == "gaussian" and self.weight_noise_std is None:
            raise _err(s, "weight_noise_std", None, "a number >= 0 when device.model is gaussian")


@dataclass(frozen=True)
class DriftCompensationConfig:
    """Global drift compensation (aihwkit ``GlobalDriftCompensation``): after
    programming, read each tile's response to the identity through the full
    analog forward and keep beta = mean |out|; at age t multiply the tile's
    outputs by beta / mean |out_t|."""

    section: ClassVar[str] = "drift_compensation"
    method: str = "global"

    def __post_init__(self) -> None:
        _check_choice(self.section, "method", self.method, ("global", "none"))


SECTIONS: dict[str, type] = {
    "tile": TileConfig,
    "converters": ConverterConfig,
    "periphery": PeripheryConfig,
    "mapping": MappingConfig,
    "training": TrainingConfig,
    "device": DeviceConfig,
    "drift_compensation": DriftCompensationConfig,
}


@dataclass(frozen=True)
class HardwareConfig:
    """One chip design. Build it from a preset (:func:`load_hardware`), a file,
    or directly; derive variants with :meth:`with_overrides`."""

    name: str = "custom"
    tile: TileConfig = field(default_factory=TileConfig)
    converters: ConverterConfig = field(default_factory=ConverterConfig)
    periphery: PeripheryConfig = field(default_factory=PeripheryConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    drift_compensation: DriftCompensationConfig = field(default_factory=DriftCompensationConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("name", self.name, "a non-empty string")
        for key, cls in SECTIONS.items():
            if not isinstance(getattr(self, key), cls):
                raise ConfigError(key, getattr(self, key), f"a {cls.__name__}")

    # -- serialisation -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON/YAML-safe dict (tuples become lists)."""
        out: dict[str, Any] = {"name": self.name}
        for key in SECTIONS:
            sec = dataclasses.asdict(getattr(self, key))
            out[key] = {k: list(v) if isinstance(v, tuple) else v for k, v in sec.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareConfig:
        """Build from a (possibly partial) dict; unknown keys are errors."""
        if not isinstance(data, dict):
            raise ConfigError("hardware", data, "a mapping of sections to fields")
        unknown = set(data) - set(SECTIONS) - {"name", "base"}
        if unknown:
            key = sorted(unknown)[0]
            hint = did_you_mean(key, [*SECTIONS, "name"])
            raise ConfigError(key, data[key], f"a known section{hint}: {', '.join(SECTIONS)}")
        kwargs: dict[str, Any] = {"name": data.get("name", "custom")}
        for key, sec_cls in SECTIONS.items():
            raw = data.get(key, {}) or {}
            if not isinstance(raw, dict):
                raise ConfigError(key, raw, "a mapping of field names to values")
            names = [f.name for f in fields(sec_cls)]
            for k in raw:
                if k not in names:
                    raise ConfigError(
                        f"{key}.{k}", raw[k], f"a field of {key}{did_you_mean(k, names)}"
                    )
            # YAML lists become tuples (the tuple-typed fields).
            kwargs[key] = sec_cls(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
            )
        return cls(**kwargs)

    def fingerprint(self) -> str:
        """A short hash of every setting except the name."""
        import hashlib
        import json

        body = self.to_dict()
        body.pop("name")
        if body["device"]["weight_noise_std"] is None:
            # Off: hashed as before the field existed, so saved chips still match.
            body["device"].pop("weight_noise_std")
        text = json.dumps(body, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- overrides -----------------------------------------------------------

    def with_overrides(self, overrides: dict[str, Any], name: str | None = None) -> HardwareConfig:
        """A new config with dotted fields replaced, e.g.
        ``{"converters.adc_bits": 6, "periphery.output_noise_std": 0.0}``.

        A bare field name (``adc_bits``) is accepted when it is unique. String
        values are parsed as YAML scalars (``"6"`` -> 6, ``"null"`` -> None),
        so CLI ``--set key=value`` pairs can be passed as they are.
        """
        data = self.to_dict()
        for key, value in overrides.items():
            sec, leaf = resolve_field(key, value)
            if isinstance(value, str):
                value = parse_value(key, value)
            data[sec][leaf] = value
        if overrides:
            data["name"] = name or f"{self.name}+overrides"
        return HardwareConfig.from_dict(data)


def all_fields() -> list[str]:
    """Every dotted field name, e.g. ``converters.adc_bits``."""
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]


def resolve_field(key: str, value: object = None) -> tuple[str, str]:
    """Map a dotted or bare field name to (section, field), or raise."""
    names = all_fields()
    if key in names:
        sec, leaf = key.split(".", 1)
        return sec, leaf
    leaves = [n for n in names if n.split(".", 1)[1] == key]
    if len(leaves) == 1:
        sec, leaf = leaves[0].split(".", 1)
        return sec, leaf
    hint = did_you_mean(key, names + [n.split(".", 1)[1] for n in names])
    raise ConfigError(key, value, f"a hardware field name such as converters.adc_bits{hint}")


def parse_value(key: str, text: str) -> Any:
    """Parse one CLI value as a YAML scalar or list (YAML 1.2 booleans:
    ``off`` is the string "off")."""
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(key, text, f"a YAML value ({exc.__class__.__name__})") from None


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["converters.adc_bits=6", ...]`` -> ``{"converters.adc_bits": "6", ...}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(pair, pair, "KEY=VALUE, e.g. converters.adc_bits=6", FLAG)
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out
