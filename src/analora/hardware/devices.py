"""Device models: program target weights once, then read them at any age.

A device model works on one layer's tiles at a time, packed as a tensor
``w[n_in, out, c]`` of normalised weights (``n_in`` input chunks of ``c``
inputs each; see :mod:`analora.analog.tiles`) with ``w_max[n_in, out, 1]``, the
max |w| of the tile each weight sits on (the weight that maps to g_max).

``program`` draws every random quantity that is fixed at programming (the
programming noise and the drift exponents) and returns the *programmed state*,
a dict of tensors that never changes afterwards. ``read`` turns that state into
the weights seen at an age ``t_s``, with fresh read noise from the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from analora import seeds
from analora.hardware import pcm
from analora.hardware.config import DeviceConfig

Block = tuple[int, int, int, int]
"""One tile of a packed layer: (input chunk, first output, end output, inputs)."""


class DeviceModel(Protocol):
    """What the chip needs from a device model."""

    @property
    def name(self) -> str:
        """Short name recorded with the chip, e.g. ``pcm``."""
        ...

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        """Programmed state of the packed weights ``w``."""
        ...

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        """Weights right after programming (t = 0, no read noise): the state
        global drift compensation takes its reference from."""
        ...

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        """Weights at age ``t_s`` seconds after programming, with fresh read noise."""
        ...


@dataclass(frozen=True)
class IdealDevice:
    """Programs exactly; never drifts; no read noise."""

    name: str = "ideal"

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        return {"w": w.detach().clone()}

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return state["w"]

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        return state["w"].clone()


@dataclass(frozen=True)
class PCMDevice:
    """The statistical PCM model (:mod:`analora.hardware.pcm`), vectorised over
    a whole layer. State: ``g_prog_uS[2, n_in, out, c]`` (G+ and G- after
    programming), ``nu[2, n_in, out, c]`` (drift exponents) and
    ``w_max[n_in, out, 1]`` (the weight that maps to g_max)."""

    config: DeviceConfig
    name: str = "pcm"

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        c = self.config
        w = w.detach().float()
        g_plus, g_minus = pcm.pair_conductances_uS(w, w_max, c.g_max_uS)
        g_target = torch.stack((g_plus, g_minus))
        # Two draws per device, both fixed for the device's life.
        normal = seeds.randn((2, *g_target.shape), generator)
        sigma = pcm.programming_noise_std_uS(
            g_target, c.g_max_uS, c.prog_coeffs, c.prog_coeffs_g_max_uS
        )
        g_prog = pcm.program_conductances_uS(g_target, sigma, normal[0], c.prog_noise_scale)
        mu, sig_nu = pcm.drift_exponent_stats(g_target, c.g_max_uS)
        nu = pcm.drift_exponents(mu, sig_nu, normal[1], c.drift_scale)
        return {"g_prog_uS": g_prog, "nu": nu, "w_max": w_max.detach().float().clone()}

    def _to_weights(self, g: Tensor, state: dict[str, Tensor]) -> Tensor:
        return (g[0] - g[1]).mul_(state["w_max"] / self.config.g_max_uS)

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return self._to_weights(state["g_prog_uS"].clone(), state)

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        c = self.config
        g_prog = state["g_prog_uS"]
        normal = seeds.randn(g_prog.shape, generator)
        g_t = pcm.read_conductances_uS(
            g_prog, state["nu"], t_s, normal, c.g_max_uS, c.t0_s, c.t_read_s, c.read_noise_scale
        )
        return self._to_weights(g_t, state)


def make_device(config: DeviceConfig) -> DeviceModel:
    """The device model a config names (``aihwkit:<Class>`` needs aihwkit)."""
    if config.model == "ideal":
        return IdealDevice()
    if config.model == "pcm":
        return PCMDevice(config)
    from analora.hardware.aihwkit_bridge import AihwkitDevice

    return AihwkitDevice.from_name(config.model.split(":", 1)[1], g_max_uS=config.g_max_uS)
