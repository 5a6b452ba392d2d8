"""The analog linear layer.

Its weights live on tiles as normalised *target* weights (mapped and clipped
once, at conversion); its bias, mapping scales and learned output scales are
digital. It runs in one of two weight sources:

* ``target`` (hardware-aware training): the target weights plus fresh Gaussian
  weight noise on every forward pass while ``training`` (never stored);
* ``chip`` (inference): the weights a programmed chip gives at its current age,
  installed by :meth:`analora.analog.chip.Chip.read`, with global drift
  compensation.

Both run the full periphery (input scaling, DAC, output noise, ADC, bound
management); see :mod:`analora.analog.mvm`. Gradients always reach the input;
they reach the target weights only when ``tile_weight.requires_grad`` is set
(full hardware-aware training), after which :meth:`post_update_step` clips and
re-maps them as aihwkit does after each optimiser step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from analora import seeds
from analora.analog.mvm import MVMSettings, analog_linear
from analora.analog.tiles import TileGeometry
from analora.hardware.config import HardwareConfig


def map_weight(weight: Tensor, geometry: TileGeometry, hw: HardwareConfig) -> tuple[Tensor, Tensor]:
    """Digital ``[out, in]`` weights -> (normalised tile weights ``[n_in, out,
    c]``, mapping scales ``[n_in, out]``) such that ``weight ~ w * scale``
    (equal up to clipping).

    Channel-wise mapping scales every tile row to max |w| = 1; then weights are
    clipped at ``clip_sigma`` standard deviations (of the tile, or of each
    row) and re-mapped so that the range is used in full again.
    """
    w = geometry.pack_weight(weight.detach().float())
    scale = _range(w, geometry, hw.mapping.weight_scaling)
    w = w / scale
    sigma = hw.mapping.clip_sigma
    if sigma is not None:
        if hw.mapping.clip_scope == "tile":
            std = geometry.tile_std(w)
        else:
            std = torch.zeros(w.shape[0], w.shape[1], 1, device=w.device)
            for i, c in enumerate(geometry.in_sizes):
                std[i] = w[i, :, :c].std(dim=-1, keepdim=True)
        limit = sigma * std
        w = torch.maximum(torch.minimum(w, limit), -limit)
        remap = _range(w, geometry, hw.mapping.weight_scaling)
        w = w / remap
        scale = scale * remap
    return w, scale.squeeze(-1)


def _range(w: Tensor, geometry: TileGeometry, mode: str) -> Tensor:
    if mode == "channel":
        r = w.abs().amax(dim=-1, keepdim=True)
    elif mode == "tile":
        r = geometry.tile_max(w)
    else:
        return torch.ones(w.shape[0], w.shape[1], 1, device=w.device)
    return torch.where(r > 0, r, torch.ones_like(r))


class AnalogLinear(nn.Module):
    """A linear layer whose weight matrix is held on analog tiles."""

    mapping_scale: Tensor
    chip_weight: Tensor | None
    drift_scale: Tensor | None

    def __init__(
        self, in_features: int, out_features: int, bias: bool, hardware: HardwareConfig
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.hardware = hardware
        self.geometry = TileGeometry.for_layer(
            in_features, out_features, hardware.tile.max_inputs, hardware.tile.max_outputs
        )
        self.settings = MVMSettings.from_hardware(hardware)
        g = self.geometry
        self.tile_weight = nn.Parameter(
            torch.zeros(g.n_in, out_features, g.chunk), requires_grad=False
        )
        self.register_buffer("mapping_scale", torch.ones(g.n_in, out_features))
        self.out_scale: nn.Parameter | None = None
        if hardware.mapping.learn_out_scale:
            self.out_scale = nn.Parameter(torch.ones(g.n_in, out_features), requires_grad=False)
        self.bias: nn.Parameter | None = nn.Parameter(torch.zeros(out_features)) if bias else None
        # Installed by a chip read; not part of the state dict.
        self.register_buffer("chip_weight", None, persistent=False)
        self.register_buffer("drift_scale", None, persistent=False)
        self.weight_source = "target"
        self.generator: torch.Generator | None = None
        self._tile_max: Tensor | None = None  # of frozen target weights

    @classmethod
    def from_digital(
        cls, weight: Tensor, bias: Tensor | None, hardware: HardwareConfig
    ) -> AnalogLinear:
        """Map a digital ``[out, in]`` weight (and bias) onto tiles."""
        out_features, in_features = weight.shape
        layer = cls(in_features, out_features, bias is not None, hardware)
        layer.set_digital_weight(weight)
        if bias is not None and layer.bias is not None:
            layer.bias.data.copy_(bias.detach().float())
        return layer

    @torch.no_grad()
    def set_digital_weight(self, weight: Tensor) -> None:
        """Map (scale, clip, re-map) a digital weight onto this layer's tiles."""
        w, scale = map_weight(weight, self.geometry, self.hardware)
        self.tile_weight.data.copy_(w)
        self.mapping_scale.copy_(scale)
        self._tile_max = None
        if self.out_scale is not None:
            self.out_scale.data.fill_(1.0)

    def digital_weight(self) -> Tensor:
        """The digital-equivalent ``[out, in]`` weight of the target state."""
        scale = self.mapping_scale
        if self.out_scale is not None:
            scale = scale * self.out_scale
        return self.geometry.unpack_weight(self.tile_weight * scale.unsqueeze(-1))

    @property
    def weight(self) -> Tensor:
        """Read-only digital-equivalent weight (for tools that inspect ``.weight``)."""
        return self.digital_weight().detach()

    @property
    def n_tiles(self) -> int:
        return self.geometry.n_tiles

    def use_chip(
        self, weight: Tensor, drift_scale: Tensor | None, generator: torch.Generator
    ) -> None:
        """Compute with a chip's read weights (``[n_in, out, c]``, normalised),
        its drift-compensation factors per output column (or None) and its
        forward-noise generator (:meth:`analora.analog.Chip.read`)."""
        self.chip_weight = weight
        self.drift_scale = drift_scale
        self.generator = generator
        self.weight_source = "chip"

    def use_target(self) -> None:
        """Back to the target weights (hardware-aware training mode); the
        chip's noise generator is dropped."""
        self.weight_source = "target"
        self.generator = None

    def _effective_weight(self) -> Tensor:
        if self.weight_source == "chip":
            if self.chip_weight is None:
                raise RuntimeError("weight_source is 'chip' but no chip has been read")
            return self.chip_weight
        w = self.tile_weight
        std = self.hardware.training.weight_noise_std
        if self.training and std > 0.0:
            # aihwkit ADD_NORMAL with rel_to_actual_wmax: std relative to the
            # tile's max |w|, a fresh draw per forward pass.
            with torch.no_grad():
                if w.requires_grad:
                    w_max = self.geometry.tile_max(w)
                else:
                    if self._tile_max is None:
                        self._tile_max = self.geometry.tile_max(w)
                    w_max = self._tile_max
                noise = seeds.randn(w.shape, self.generator, w.device).mul_(w_max * std)
            return w + noise
        return w

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        dtype = x.dtype
        x2 = x.reshape(-1, self.in_features).float()
        xp = self.geometry.pack_input(x2)
        w = self._effective_weight()
        scale: Tensor | None = self.mapping_scale
        if self.weight_source == "chip" and self.drift_scale is not None:
            scale = self.mapping_scale * self.drift_scale
        elif self.hardware.mapping.weight_scaling == "none":
            scale = None
        if self.out_scale is not None and self.out_scale.requires_grad:
            per_tile = analog_linear(xp, w, scale, self.settings, self.generator, sum_tiles=False)
            y = (per_tile * self.out_scale.unsqueeze(1)).sum(dim=0)
            if self.bias is not None:
                y = y + self.bias
        else:
            if self.out_scale is not None:
                scale = self.out_scale if scale is None else scale * self.out_scale
            y = analog_linear(xp, w, scale, self.settings, self.generator, bias=self.bias)
        return y.reshape(*lead, self.out_features).to(dtype)

    @torch.no_grad()
    def post_update_step(self) -> None:
        """After an optimiser step on trainable analog weights: clip and re-map
        (aihwkit ``InferenceTile.post_update_step``: the clip and the re-map
        move the tile weights and the mapping scales; the learned out-scale
        is a separate digital parameter and keeps its value). Never called on
        frozen analog weights."""
        if not self.tile_weight.requires_grad:
            return
        mapped = self.tile_weight * self.mapping_scale.unsqueeze(-1)
        learned = None if self.out_scale is None else self.out_scale.detach().clone()
        self.set_digital_weight(self.geometry.unpack_weight(mapped))
        if learned is not None and self.out_scale is not None:
            self.out_scale.data.copy_(learned)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, tiles={g.n_in}x{g.n_out}, "
            f"hardware={self.hardware.name}, source={self.weight_source}"
        )
