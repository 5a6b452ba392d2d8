"""Chips: a model's analog layers programmed once, then read as they age.

``program(model, hardware, seed)`` draws, once per device, the programming
noise and the drift exponents (from seeds derived from the chip seed and the
layer name) and measures each tile's global-drift-compensation reference. That
*programmed state* lives in the chip, outside the model's parameters, and
never changes; :meth:`Chip.fingerprint` hashes it.

``chip.read(t_s, read_index)`` installs into the model the weights the chip
gives ``t_s`` seconds after programming: drift plus fresh read noise, seeded
by (chip seed, t_s, read index, layer), so the same triple gives the same bits.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from analora import fused
from analora.analog.convert import (
    ConversionReport,
    analog_layers,
    conversion_report,
    convert,
)
from analora.analog.layer import AnalogLinear
from analora.analog.mvm import MVMSettings, tile_outputs
from analora.errors import ChipError
from analora.hardware import pcm
from analora.hardware.config import HardwareConfig
from analora.hardware.devices import DeviceModel, make_device
from analora.seeds import generator

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as progress(layer_name, done, total) while programming."""


def drift_readout(layer: AnalogLinear, w: Tensor, gen: torch.Generator) -> Tensor:
    """``[n_in, n_out]``: mean |out| of each tile's response to the identity
    (one unit vector per tile input) through the full analog forward."""
    g = layer.geometry
    beta = _fused_drift_readout(layer, w, gen)
    if beta is not None:
        return beta
    # Row k drives input k of every input chunk at once; chunks are separate
    # tiles with their own input scaling and ADCs, so they do not interact.
    eye = torch.eye(g.chunk, device=w.device).unsqueeze(1).expand(g.chunk, g.n_in, g.chunk)
    out = tile_outputs(eye, w, layer.settings, gen, one_hot=True)  # [n_in, c, out], normalised

    beta = torch.empty(g.n_in, g.n_out, device=w.device)
    for i, c in enumerate(g.in_sizes):
        for j, (o0, o1) in enumerate(g.out_bounds):
            beta[i, j] = pcm.drift_readout(out[i, :c, o0:o1])
    return beta


def _fused_drift_readout(layer: AnalogLinear, w: Tensor, gen: torch.Generator) -> Tensor | None:
    """:func:`drift_readout` in one kernel pass that sums ``|out|`` per tile
    column without forming the outputs (:func:`analora.fused.identity_readout`);
    None where it does not apply (no kernels, or an output saturated under
    bound management, which only the general path applies)."""
    s = layer.settings
    lib = fused.for_tensor(w)
    if lib is None or s.bound_management not in ("none", "iterative"):
        return None
    g = layer.geometry
    step_in, step_out = s.input_step or 1.0, s.output_step or 1.0
    unit = torch.zeros(1, 1, g.chunk, device=w.device)
    unit[0, 0, 0] = 1.0
    if s.input_scaling or s.input_step is not None:  # the DAC code of a lone 1
        codes = torch.empty_like(unit)
        lim = s.input_bound / s.input_step if s.clamp_input and s.input_step else None
        a = fused.dac(lib, unit, step_in, s.input_scaling, s.input_step is not None, lim, codes)
        code, row_factor = float(codes[0, 0, 0]), float(a.reshape(-1)[0]) * step_out
    else:
        code, row_factor = 1.0, step_out
    noise = s.output_noise_std / step_out
    bound = None if s.output_bound is None else s.output_bound / step_out
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=w.device).item()) if noise else 0
    sums, saturated = fused.identity_readout(
        lib, w, g.in_sizes, code, step_in / step_out, noise, s.output_step is not None, bound, seed
    )
    if saturated and s.bound_management != "none":
        return None
    beta = torch.empty(g.n_in, g.n_out, device=w.device)
    for j, (o0, o1) in enumerate(g.out_bounds):
        count = torch.tensor(g.in_sizes, dtype=torch.float32, device=w.device) * (o1 - o0)
        beta[:, j] = sums[:, o0:o1].sum(dim=1).mul_(row_factor / count).clamp_(min=1e-4)
    return beta


def _update(h: Any, label: str, t: Tensor) -> None:
    """Feed one tensor (from any device) into a hash, with its label, dtype and shape."""
    t = t.detach().cpu().contiguous()
    h.update(f"{label}:{t.dtype}:{tuple(t.shape)}\n".encode())
    h.update(t.numpy().tobytes())


@dataclass
class Chip:
    """One programmed instance of a model under a hardware config."""

    model: nn.Module
    hardware: HardwareConfig
    seed: int
    model_fingerprint: str
    device_model: DeviceModel
    """The physics of the devices (not a torch device: the chip's tensors live
    on :attr:`tensor_device`)."""
    state: dict[str, dict[str, Tensor]] = field(repr=False)
    age_s: float | None = None
    read_index: int | None = None

    # -- identity -------------------------------------------------------------

    def fingerprint(self) -> str:
        """sha256 of the programmed state (every tensor, in a fixed order),
        the hardware settings, the model fingerprint and the seed."""
        return self._hash(self.hardware.fingerprint())

    def live_fingerprint(self) -> str:
        """sha256 of what the chip holds *now*: the programmed state plus the
        live tile weights and mapping scales of the model's analog layers
        (the tensors the devices were programmed from). Unlike
        :meth:`fingerprint`, it changes if anything writes those tensors
        after programming, e.g. an optimiser given the analog weights."""
        h = hashlib.sha256(self.fingerprint().encode())
        for name, layer in self.layers():
            for key, t in (
                ("tile_weight", layer.tile_weight),
                ("mapping_scale", layer.mapping_scale),
            ):
                _update(h, f"{name}.{key}", t)
        return h.hexdigest()

    def state_fingerprint(self) -> str:
        """sha256 of the programmed state alone: what was written into the
        devices (and measured right after, e.g. the drift-compensation
        reference), the model fingerprint and the seed, without the periphery
        settings. It changes only if the analog devices are rewritten, so it
        stays the same across :meth:`with_periphery`."""
        return self._hash("state")

    def _hash(self, head: str) -> str:
        h = hashlib.sha256()
        h.update(f"{head}|{self.model_fingerprint}|{self.seed}\n".encode())
        for layer in sorted(self.state):
            for key in sorted(self.state[layer]):
                _update(h, f"{layer}.{key}", self.state[layer][key])
        return h.hexdigest()

    # -- devices ----------------------------------------------------------------

    def to(self, device: torch.device | str) -> Chip:
        """Move the model and the programmed state to a torch ``device``
        (in place; returns the chip). An installed read keeps its weights;
        its forward-noise generator restarts on the new device (the same
        seed gives other bits on another device type)."""
        dev = torch.device(device)
        self.model.to(dev)
        self.state = {
            name: {k: t.to(dev) for k, t in st.items()} for name, st in self.state.items()
        }
        reading = [layer for _, layer in self.layers() if layer.weight_source == "chip"]
        if reading and self.age_s is not None and self.read_index is not None:
            gen = generator(self.seed, "forward", self.age_s, self.read_index, device=dev)
            for layer in reading:
                assert layer.chip_weight is not None
                layer.use_chip(layer.chip_weight, layer.drift_scale, gen)
        return self

    @property
    def tensor_device(self) -> torch.device:
        """The torch device the programmed state lives on."""
        for st in self.state.values():
            for t in st.values():
                return t.device
        return torch.device("cpu")

    def _state_on(self, name: str, device: torch.device) -> dict[str, Tensor]:
        """Layer ``name``'s state, moved (once) to ``device`` if the model was
        moved without the chip."""
        st = self.state[name]
        if any(t.device != device for t in st.values()):
            st = self.state[name] = {k: t.to(device) for k, t in st.items()}
        return st

    @property
    def report(self) -> ConversionReport:
        rep = conversion_report(self.model)
        assert rep is not None
        return rep

    def layers(self) -> list[tuple[str, AnalogLinear]]:
        """The model's analog layers this chip programmed; all of them, or an error."""
        found = [(n, m) for n, m in analog_layers(self.model) if n in self.state]
        if len(found) != len(self.state):
            missing = sorted(set(self.state) - {n for n, _ in found})
            raise ChipError(
                f"the model no longer has the chip's layers ({', '.join(missing[:3])}...): "
                "keep the model the chip was programmed on"
            )
        return found

    # -- reading --------------------------------------------------------------

    @torch.no_grad()
    def read(self, t_s: float, read_index: int = 0) -> Chip:
        """Install the weights seen ``t_s`` seconds after programming (drift,
        fresh read noise, drift compensation) and switch the model to them."""
        t_s = float(t_s)
        if not (math.isfinite(t_s) and t_s >= 0.0):
            raise ChipError(f"age t_s={t_s!r} is invalid: give finite seconds >= 0")
        forward_gens: dict[torch.device, torch.Generator] = {}
        for name, layer in self.layers():
            dev = layer.tile_weight.device
            if dev not in forward_gens:
                forward_gens[dev] = generator(self.seed, "forward", t_s, read_index, device=dev)
            st = self._state_on(name, dev)
            gen = generator(self.seed, "read", t_s, read_index, name, device=dev)
            w = self.device_model.read(st, t_s, gen, layer.geometry.blocks)
            drift_scale = None
            if self.hardware.drift_compensation.method == "global":
                gdc = generator(self.seed, "gdc", t_s, read_index, name, device=dev)
                beta_t = drift_readout(layer, w, gdc)
                alpha = pcm.global_drift_compensation(st["gdc_reference"], beta_t)
                drift_scale = layer.geometry.per_tile_to_columns(alpha)
            layer.use_chip(w, drift_scale, forward_gens[dev])
        self.age_s, self.read_index = t_s, read_index
        return self

    def use_target(self) -> None:
        """Switch the model back to its target weights (training mode)."""
        for _, layer in self.layers():
            layer.use_target()

    @contextmanager
    def reading(self, t_s: float, read_index: int = 0) -> Iterator[nn.Module]:
        """``with chip.reading(3600): model(...)``; restores the target weights after."""
        self.read(t_s, read_index)
        try:
            yield self.model
        finally:
            self.use_target()

    # -- changed constraints ----------------------------------------------------

    PERIPHERY_SECTIONS = ("converters", "periphery", "training")
    """What may change on a programmed chip: the converters (DAC/ADC bits,
    bounds), the periphery (output noise, bound management, input scaling)
    and the training-noise settings. The tile size, mapping, device model
    and drift compensation define the programmed state and may not."""

    def with_periphery(self, hardware: HardwareConfig) -> Chip:
        """The same programmed devices under changed periphery constraints (the
        paper's 8- to 6-bit converter experiment): every analog layer of the
        model switches to ``hardware``; nothing is reprogrammed, the state is
        shared and :meth:`state_fingerprint` is unchanged. Any other section
        that differs is an error."""
        old, new = self.hardware.to_dict(), hardware.to_dict()
        fixed = [k for k in old if k not in (*self.PERIPHERY_SECTIONS, "name") and old[k] != new[k]]
        if fixed:
            raise ChipError(
                f"hardware {hardware.name!r} changes {', '.join(fixed)}, which a programmed chip "
                f"cannot change (only {', '.join(self.PERIPHERY_SECTIONS)}): program a new chip"
            )
        settings = MVMSettings.from_hardware(hardware)
        for _, layer in self.layers():
            layer.hardware = hardware
            layer.settings = settings
        rep = conversion_report(self.model)
        if rep is not None:
            rep.hardware = hardware.name
        chip = Chip(
            model=self.model,
            hardware=hardware,
            seed=self.seed,
            model_fingerprint=self.model_fingerprint,
            device_model=self.device_model,
            state=self.state,
        )
        log.info("chip %d now runs under %s (no device written)", self.seed, hardware.name)
        return chip

    def info(self) -> dict[str, object]:
        rep = self.report
        return {
            "hardware": self.hardware.name,
            "hardware_fingerprint": self.hardware.fingerprint(),
            "device": self.device_model.name,
            "seed": self.seed,
            "model_fingerprint": self.model_fingerprint,
            "fingerprint": self.fingerprint(),
            "layers": len(self.state),
            "tiles": rep.tiles,
            "analog_params": rep.analog_params,
            "digital_params": rep.digital_params,
            "analog_fraction": rep.analog_fraction,
            "age_s": self.age_s,
        }


def program(
    model: nn.Module,
    hardware: HardwareConfig | None = None,
    seed: int = 0,
    *,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    device: DeviceModel | None = None,
    progress: Progress | None = None,
) -> Chip:
    """Program a model onto a chip, once.

    A model that is not yet converted is converted first (in place) with
    ``hardware``; a converted model keeps its own hardware config, and a
    different ``hardware`` is an error. ``device`` overrides the config's
    device model (any :class:`DeviceModel`, e.g. an
    :class:`~analora.hardware.aihwkit_bridge.AihwkitDevice`).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ChipError(f"seed={seed!r} is invalid: give an integer >= 0 (--seed)")
    rep = conversion_report(model)
    if rep is None:
        if hardware is None:
            raise ChipError("the model is not converted: pass a hardware config to program()")
        rep = convert(model, hardware, include=include, exclude=exclude)
    layers = analog_layers(model)
    hw = layers[0][1].hardware
    if hardware is not None and hardware.fingerprint() != hw.fingerprint():
        raise ChipError(
            f"the model was converted for hardware {hw.name!r}, not {hardware.name!r}: "
            "convert a fresh copy of the model"
        )
    dev = device if device is not None else make_device(hw.device)
    state: dict[str, dict[str, Tensor]] = {}
    with torch.no_grad():
        for k, (name, layer) in enumerate(layers):
            w = layer.tile_weight.detach()
            on = w.device
            blocks = layer.geometry.blocks
            st = dev.program(
                w, layer.geometry.tile_max(w), generator(seed, "program", name, device=on), blocks
            )
            st["mapping_scale"] = layer.mapping_scale.detach().clone()
            if hw.drift_compensation.method == "global":
                w0 = dev.programmed_weights(st, blocks)
                st["gdc_reference"] = drift_readout(
                    layer, w0, generator(seed, "gdc-reference", name, device=on)
                )
            state[name] = st
            if progress is not None:
                progress(name, k + 1, len(layers))
    chip = Chip(
        model=model,
        hardware=hw,
        seed=seed,
        model_fingerprint=rep.model_fingerprint,
        device_model=dev,
        state=state,
    )
    log.info("programmed %d layers (%d tiles), seed %d", len(layers), rep.tiles, seed)
    return chip
