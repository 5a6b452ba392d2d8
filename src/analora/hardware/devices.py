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

import math
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from analora import fused, seeds
from analora.hardware import pcm
from analora.hardware.config import DeviceConfig
from analora.hardware.tiling import Block


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
        lib = fused.for_tensor(w)
        if lib is not None:  # the same formulas in one pass (analora.fused)
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=w.device).item())
            g_prog, nu = fused.pcm_program(
                lib,
                w,
                w_max.detach().float(),
                tuple(c.prog_coeffs),
                c.g_max_uS,
                c.prog_coeffs_g_max_uS,
                c.prog_noise_scale,
                c.drift_scale,
                seed,
            )
            return {"g_prog_uS": g_prog, "nu": nu, "w_max": w_max.detach().float().clone()}
        # Of each pair, one device carries |w| (the "active" one: G+ for
        # w > 0, G- otherwise) and the other targets 0 S. The conductance-
        # dependent statistics are evaluated on the active devices only; at
        # G = 0 they are constants of the same formulas.
        g_active, _ = pcm.pair_conductances_uS(w.abs(), w_max, c.g_max_uS)
        g_idle = torch.zeros(1, device=w.device)
        # Two draws per device (programming noise, drift exponent), both fixed
        # for the device's life: [active prog, idle prog, active nu, idle nu].
        normal = seeds.randn((4, *w.shape), generator, w.device)

        def program_one(g: Tensor, z_prog: Tensor, z_nu: Tensor) -> tuple[Tensor, Tensor]:
            sigma = pcm.programming_noise_std_uS(
                g, c.g_max_uS, c.prog_coeffs, c.prog_coeffs_g_max_uS
            )
            g_prog = pcm.program_conductances_uS(g, sigma, z_prog, c.prog_noise_scale)
            mu, sig_nu = pcm.drift_exponent_stats(g, c.g_max_uS)
            return g_prog, pcm.drift_exponents(mu, sig_nu, z_nu, c.drift_scale)

        gp_a, nu_a = program_one(g_active, normal[0], normal[2])
        gp_i, nu_i = program_one(g_idle, normal[1], normal[3])
        positive = w > 0
        g_prog = torch.empty(2, *w.shape, device=w.device)
        nu = torch.empty(2, *w.shape, device=w.device)
        torch.where(positive, gp_a, gp_i, out=g_prog[0])
        torch.where(positive, gp_i, gp_a, out=g_prog[1])
        torch.where(positive, nu_a, nu_i, out=nu[0])
        torch.where(positive, nu_i, nu_a, out=nu[1])
        return {"g_prog_uS": g_prog, "nu": nu, "w_max": w_max.detach().float().clone()}

    def _to_weights(self, g: Tensor, state: dict[str, Tensor]) -> Tensor:
        return (g[0] - g[1]).mul_(state["w_max"] / self.config.g_max_uS)

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return self._to_weights(state["g_prog_uS"], state)  # writes only a new tensor

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        c = self.config
        g_prog = state["g_prog_uS"]
        lib = fused.for_tensor(g_prog)
        if lib is not None:  # the same formulas in one pass (analora.fused)
            dev = g_prog.device
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=dev).item())
            log_drift = -math.log((t_s + c.t0_s) / c.t0_s) if t_s > 0 else 0.0
            read_scale = c.read_noise_scale * pcm.read_noise_time_factor(t_s, c.t0_s, c.t_read_s)
            return fused.pcm_read(
                lib, g_prog, state["nu"], state["w_max"], c.g_max_uS, log_drift, read_scale, seed
            )
        normal = seeds.randn(g_prog.shape, generator, g_prog.device)
        g_t = pcm.read_conductances_uS(
            g_prog, state["nu"], t_s, normal, c.g_max_uS, c.t0_s, c.t_read_s, c.read_noise_scale
        )
        return self._to_weights(g_t, state)


@dataclass(frozen=True)
class GaussianDevice:
    """Programs each weight with one fixed draw of additive Gaussian noise of
    std ``weight_noise_std * w_max`` (the tile's max |w|), then never drifts and
    reads without noise: the weight-noise-only evaluation of Li et al. (arXiv
    2411.17367 v4) for decoder LLMs, where each chip is one noise draw."""

    weight_noise_std: float
    name: str = "gaussian"

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        noise = seeds.randn(tuple(w.shape), generator).mul_(w_max * self.weight_noise_std)
        return {"w": noise.add_(w.detach().float())}

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return state["w"]

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        return state["w"].clone()


def make_device(config: DeviceConfig) -> DeviceModel:
    """The device model a config names (``aihwkit:<Class>`` needs aihwkit)."""
    if config.model == "ideal":
        return IdealDevice()
    if config.model == "pcm":
        return PCMDevice(config)
    if config.model == "gaussian":
        return GaussianDevice(float(config.weight_noise_std or 0.0))
    from analora.hardware.aihwkit_bridge import AihwkitDevice

    return AihwkitDevice.from_name(config.model.split(":", 1)[1], g_max_uS=config.g_max_uS)
