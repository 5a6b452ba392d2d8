"""Bridge to IBM aihwkit's inference noise models (optional dependency).

This is the only module of the library that imports aihwkit. Any object of
aihwkit's ``BaseNoiseModel`` family (``PCMLikeNoiseModel``,
``HermesNoiseModel``, ``ReRamWan2022NoiseModel``, ``ReRamCMONoiseModel``, ...)
can stand in for the built-in device model: analora calls its
``apply_programming_noise`` once per tile at programming and its
``apply_drift_noise`` at each read, seeding torch's global RNG from analora's
named seeds (inside ``torch.random.fork_rng``, so the caller's RNG state is
untouched). aihwkit converts each tile to conductances on its own, normalising
by the tile's max |w|, exactly as its own tiles do.

Install it without its dependencies (a plain install pulls PyPI's torchvision,
which breaks transformers beside a CPU torch)::

    pip install --no-deps aihwkit==1.1.0   # beside numpy, scipy and tqdm
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from analora.errors import ConfigError, did_you_mean
from analora.hardware.config import HardwareConfig
from analora.hardware.tiling import Block


def _require_aihwkit() -> Any:
    try:
        import aihwkit.inference as inference
    except ImportError as exc:
        raise ConfigError(
            "device.model",
            "aihwkit:...",
            "only with aihwkit installed: pip install --no-deps aihwkit==1.1.0 "
            f"(beside numpy, scipy, tqdm) [{exc.__class__.__name__}: {exc}]",
        ) from None
    return inference


def aihwkit_noise_model_names() -> list[str]:
    """Names of the noise-model classes aihwkit exports."""
    inference = _require_aihwkit()
    return sorted(
        n
        for n in dir(inference)
        if n.endswith("NoiseModel")
        and isinstance(getattr(inference, n), type)
        and issubclass(getattr(inference, n), inference.BaseNoiseModel)
        and n != "BaseNoiseModel"
    )


def _seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


@dataclass
class AihwkitDevice:
    """A device model backed by an aihwkit noise-model object."""

    noise_model: Any
    name: str = "aihwkit"

    def __post_init__(self) -> None:
        inference = _require_aihwkit()
        if not isinstance(self.noise_model, inference.BaseNoiseModel):
            raise ConfigError(
                "device.model", type(self.noise_model).__name__, "an aihwkit BaseNoiseModel"
            )
        self.name = f"aihwkit:{type(self.noise_model).__name__}"

    @classmethod
    def from_name(cls, class_name: str, **kwargs: Any) -> AihwkitDevice:
        """Instantiate ``aihwkit.inference.<class_name>`` with its defaults
        (``g_max`` passed on where the class takes it)."""
        inference = _require_aihwkit()
        names = aihwkit_noise_model_names()
        if class_name not in names:
            raise ConfigError(
                "device.model",
                f"aihwkit:{class_name}",
                f"aihwkit:<one of {', '.join(names)}>{did_you_mean(class_name, names)}",
                "--set device.model=...",
            )
        klass = getattr(inference, class_name)
        g_max = kwargs.get("g_max_uS")
        try:
            model = klass(g_max=g_max) if g_max is not None else klass()
        except TypeError:
            model = klass()
        return cls(model)

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        w_prog = torch.zeros_like(w)
        drift: list[Tensor] | None = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_from(generator))
            for i, o0, o1, c in blocks:
                noisy, params = self.noise_model.apply_programming_noise(
                    w[i, o0:o1, :c].detach().float()
                )
                w_prog[i, o0:o1, :c] = noisy
                if params and all(p is not None for p in params):
                    if drift is None:
                        drift = [torch.zeros_like(w) for _ in params]
                    for store, p in zip(drift, params, strict=True):
                        store[i, o0:o1, :c] = p
        state = {"w_prog": w_prog}
        if drift is not None:
            state["drift_params"] = torch.stack(drift)
        return state

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return state["w_prog"]

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        w_prog = state["w_prog"]
        drift = state.get("drift_params")
        out = torch.zeros_like(w_prog)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_from(generator))
            for i, o0, o1, c in blocks:
                params: list[Tensor | None] = (
                    [None, None] if drift is None else [d[i, o0:o1, :c] for d in drift]
                )
                out[i, o0:o1, :c] = self.noise_model.apply_drift_noise(
                    w_prog[i, o0:o1, :c], params, float(t_s)
                )
        return out


def rpu_config_for(hw: Any) -> Any:
    """aihwkit's ``TorchInferenceRPUConfig`` with the settings of an analora
    hardware config (for cross-checks and side-by-side benchmarks).

    Not every analora setting exists in aihwkit: per-vector bound management
    maps to aihwkit's (whole-batch) ITERATIVE, and a channel-scoped clip has
    no aihwkit equivalent (LAYER_GAUSSIAN is used).
    """
    _require_aihwkit()
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    from aihwkit.simulator.parameters.enums import (
        BoundManagementType,
        NoiseManagementType,
        WeightClipType,
        WeightModifierType,
        WeightRemapType,
    )

    rpu = TorchInferenceRPUConfig()
    conv, per, mp = hw.converters, hw.periphery, hw.mapping
    f = rpu.forward
    f.inp_res = 1.0 / (2**conv.dac_bits - 2) if conv.dac_bits else -1.0
    f.out_res = 1.0 / (2**conv.adc_bits - 2) if conv.adc_bits else -1.0
    f.inp_bound = conv.input_bound
    f.out_bound = conv.output_bound if conv.output_bound is not None else -1.0
    f.out_noise = per.output_noise_std
    f.noise_management = (
        NoiseManagementType.ABS_MAX if per.input_scaling == "abs-max" else NoiseManagementType.NONE
    )
    f.bound_management = (
        BoundManagementType.NONE
        if per.bound_management == "none"
        else BoundManagementType.ITERATIVE
    )
    f.max_bm_factor = int(per.max_bm_factor)
    f.max_bm_res = per.max_bm_res
    rpu.mapping.max_input_size = hw.tile.max_inputs
    rpu.mapping.max_output_size = hw.tile.max_outputs
    if mp.weight_scaling == "none":
        rpu.mapping.weight_scaling_omega = 0.0
    else:
        rpu.mapping.weight_scaling_omega = 1.0
        rpu.mapping.weight_scaling_columnwise = mp.weight_scaling == "channel"
    rpu.mapping.learn_out_scaling = mp.learn_out_scale
    rpu.mapping.out_scaling_columnwise = mp.learn_out_scale
    if mp.clip_sigma is not None:
        rpu.clip.type = WeightClipType.LAYER_GAUSSIAN
        rpu.clip.sigma = mp.clip_sigma
        rpu.remap.type = (
            WeightRemapType.CHANNELWISE_SYMMETRIC
            if mp.weight_scaling == "channel"
            else WeightRemapType.LAYERWISE_SYMMETRIC
        )
    if hw.training.weight_noise_std > 0:
        rpu.modifier.type = WeightModifierType.ADD_NORMAL
        rpu.modifier.std_dev = hw.training.weight_noise_std
        rpu.modifier.rel_to_actual_wmax = True
    d = hw.device
    if d.model == "pcm":
        rpu.noise_model = PCMLikeNoiseModel(
            g_max=d.g_max_uS,
            prog_coeff=list(d.prog_coeffs),
            t_0=d.t0_s,
            t_read=d.t_read_s,
            prog_noise_scale=d.prog_noise_scale,
            read_noise_scale=d.read_noise_scale,
            drift_scale=d.drift_scale,
        )
        rpu.noise_model.prog_coeff_g_max_reference = d.prog_coeffs_g_max_uS
    elif d.model.startswith("aihwkit:"):
        rpu.noise_model = AihwkitDevice.from_name(
            d.model.split(":", 1)[1], g_max_uS=d.g_max_uS
        ).noise_model
    rpu.drift_compensation = (
        GlobalDriftCompensation() if hw.drift_compensation.method == "global" else None
    )
    return rpu


# -- to aihwkit: a model (and a chip's programmed weights) as aihwkit layers ----


def to_aihwkit(
    digital: nn.Module,
    hardware: HardwareConfig,
    analog_names: Sequence[str],
    programmed: dict[str, Tensor] | None = None,
    seed: int = 0,
) -> nn.Module:
    """An aihwkit model: ``digital`` (a plain torch model) with its layers
    ``analog_names`` converted by aihwkit's ``convert_to_analog`` under
    :func:`rpu_config_for` ``(hardware)``; every other layer stays digital.

    ``programmed`` maps layer names to the ``[out, in]`` weights a chip was
    programmed to (its programming noise included). They are written into
    the aihwkit tiles as their reference and programmed weights, so that
    aihwkit's ``drift_analog_weights(t)`` ages that chip rather than drawing a
    new one; the drift exponents are drawn by aihwkit's noise model (seeded by
    ``seed``), since aihwkit keeps them per conductance it derives itself.
    Without ``programmed`` aihwkit programs the target weights on first use.
    """
    _require_aihwkit()
    from aihwkit.nn.conversion import convert_to_analog

    names = set(analog_names)
    digital_linears = [
        n for n, m in digital.named_modules() if isinstance(m, nn.Linear) and n not in names
    ]
    missing = sorted(names - {n for n, m in digital.named_modules() if isinstance(m, nn.Linear)})
    if missing:
        raise ConfigError("layers", missing[0], "a linear layer of the digital model")
    model = convert_to_analog(digital, rpu_config_for(hardware), exclude_modules=digital_linears)
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, weight in sorted((programmed or {}).items()):
            layer = model.get_submodule(name)
            layer.set_weights(weight, layer.get_weights()[1])
            for tile in layer.analog_tiles():
                _set_programmed(tile)
    return model


def _set_programmed(tile: Any) -> None:
    """Make the tile's present weights its programmed state (aihwkit's
    ``program_weights`` without drawing programming noise)."""
    weights = tile.tile.get_weights().clone()
    noise_model = tile.rpu_config.noise_model
    tile.reference_combined_weights = weights.clone()
    tile.programmed_weights = weights
    conductances, _ = noise_model.g_converter.convert_to_conductances(weights)
    tile.drift_noise_parameters = [noise_model.generate_drift_coefficients(g) for g in conductances]
    compensation = getattr(tile.rpu_config, "drift_compensation", None)
    if compensation is not None:
        tile.drift_baseline = compensation.init_baseline(tile)
