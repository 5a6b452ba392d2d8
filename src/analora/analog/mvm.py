"""The analog matrix-vector multiply of one layer's tiles.

For each tile (input chunk ``i``) and input vector ``x_i`` (DESIGN.md,
"analog layer"; aihwkit ``AnalogMVM`` with ``TorchInferenceRPUConfig``)::

    a   = max |x_i|                        abs-max input scaling (1 if off)
    u   = clamp(round(x_i / (a r s_in)) s_in, +-b_in)       DAC, r = BM reduction
    v   = u @ w_i^T + sigma_out z          MVM on normalised weights, output noise
    q   = clamp(round(v / s_out) s_out, +-b_out)            ADC
    y_i = q a r * scale_i                  digital: mapping, learned, drift scales
    y   = sum_i y_i                        partial sums added digitally

Bound management re-runs an input vector whose output saturates the ADC with
``r`` doubled until it fits or ``r`` passes aihwkit's limits (``max_bm_factor``,
``max_bm_res / s_in``).

Implementation notes (speed): inputs are turned into integer DAC codes and the
weights are pre-multiplied by ``s_in / s_out``, so the matmul yields ADC codes
directly and each quantiser is one in-place ``round_``. Gradients are
straight-through (the quantisers and the noise count as identity), computed in
one custom autograd function so that no intermediate is kept for backward:
``dy/dx_i = scale_i * w_i`` and, when the analog weights train,
``dL/dw_i = (g scale_i)^T x_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from analora.hardware.config import HardwareConfig


@dataclass(frozen=True)
class MVMSettings:
    """Constants of one hardware config, derived once."""

    input_scaling: bool
    input_step: float | None
    input_bound: float
    clamp_input: bool
    output_step: float | None
    output_bound: float | None
    output_noise_std: float
    bound_management: str
    bm_max_reduction: float

    @classmethod
    def from_hardware(cls, hw: HardwareConfig) -> MVMSettings:
        conv, per = hw.converters, hw.periphery
        input_scaling = per.input_scaling == "abs-max"
        step_in = conv.input_step
        bm = per.bound_management if conv.output_bound is not None else "none"
        # aihwkit stops once the reduction exceeds max_bm_factor, or
        # max_bm_res / input_step when the DAC quantises.
        limit = per.max_bm_factor
        if step_in is not None:
            limit = min(limit, per.max_bm_res / step_in)
        return cls(
            input_scaling=input_scaling,
            input_step=step_in,
            input_bound=conv.input_bound,
            # Only a DAC has a range; abs-max scaling keeps |x / a| <= 1 <= bound.
            clamp_input=step_in is not None and not (input_scaling and conv.input_bound >= 1.0),
            output_step=conv.output_step,
            output_bound=conv.output_bound,
            output_noise_std=per.output_noise_std,
            bound_management=bm,
            bm_max_reduction=limit,
        )

    @property
    def is_ideal(self) -> bool:
        return (
            not self.input_scaling
            and self.input_step is None
            and self.output_step is None
            and self.output_bound is None
            and self.output_noise_std == 0.0
        )


def _dac_codes(x: Tensor, inv: Tensor | float, s: MVMSettings) -> Tensor:
    """Input codes ``x * inv``, rounded and clamped by the DAC (new tensor)."""
    codes = x * inv
    if s.input_step is not None:
        codes.round_()
        if s.clamp_input:
            lim = s.input_bound / s.input_step
            codes.clamp_(-lim, lim)
    return codes


def _adc(v: Tensor, s: MVMSettings, noise_codes: float, gen: torch.Generator | None) -> Tensor:
    """Output noise then ADC rounding, in place, in output-code units."""
    if noise_codes > 0.0:
        noise = torch.empty_like(v).normal_(generator=gen)
        v.add_(noise, alpha=noise_codes)
    if s.output_step is not None:
        v.round_()
    return v


def _matmul(codes: Tensor, w: Tensor) -> Tensor:
    """``[n_in, N, c] @ [n_in, out, c]^T -> [n_in, N, out]``."""
    if codes.shape[0] == 1:
        return (codes[0] @ w[0].T).unsqueeze(0)
    return torch.bmm(codes, w.transpose(1, 2))


def analog_forward(
    xp: Tensor, w: Tensor, s: MVMSettings, gen: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Raw tile outputs for packed inputs, without digital scales.

    Args:
        xp: ``[n_in, N, c]`` packed inputs.
        w: ``[n_in, out, c]`` normalised effective weights.
    Returns:
        ``q`` ``[n_in, N, out]`` ADC codes, ``row_factor`` ``[n_in, N, 1]``
        such that the tile output is ``q * row_factor``, and a bool mask of
        outputs that stayed clipped (None when nothing clipped).
    """
    step_in = s.input_step or 1.0
    step_out = s.output_step or 1.0
    if s.input_scaling:
        a = xp.abs().amax(dim=-1, keepdim=True)
        a = torch.where(a > 0, a, torch.ones_like(a))
    else:
        a = torch.ones(xp.shape[0], xp.shape[1], 1, dtype=xp.dtype)
    w_codes = w * (step_in / step_out) if step_in != step_out else w
    noise_codes = s.output_noise_std / step_out
    bound = None if s.output_bound is None else s.output_bound / step_out

    codes = _dac_codes(xp, 1.0 / (a * step_in), s) if s.input_scaling or s.input_step else xp
    q = _adc(_matmul(codes, w_codes), s, noise_codes, gen)
    reduction = torch.ones_like(a)
    if bound is None:
        return q, a * step_out, None

    if s.bound_management != "none":
        clipping = q.abs().amax(dim=-1) > bound  # [n_in, N]
        r = 1.0
        while r < s.bm_max_reduction and bool(clipping.any()):
            r *= 2.0
            for i in range(xp.shape[0]):
                rows = clipping[i]
                if s.bound_management == "iterative-batch":
                    rows = torch.ones_like(rows) if bool(rows.any()) else rows
                idx = rows.nonzero().squeeze(1)
                if idx.numel() == 0:
                    continue
                c = _dac_codes(xp[i, idx], 1.0 / (a[i, idx] * (r * step_in)), s)
                qi = _adc(c @ w_codes[i].T, s, noise_codes, gen)
                q[i, idx] = qi
                reduction[i, idx] = r
                clipping[i, idx] = qi.abs().amax(dim=-1) > bound
    over = q.abs() > bound
    mask = None
    if bool(over.any()):
        q.clamp_(-bound, bound)
        mask = ~over
    return q, a * reduction * step_out, mask


class _AnalogLinearFn(torch.autograd.Function):
    """Forward of :func:`analog_forward` plus digital scales; straight-through
    backward. Returns ``[N, out]`` (scales applied, tiles summed)."""

    @staticmethod
    def forward(
        ctx: Any,
        xp: Tensor,
        w: Tensor,
        scale: Tensor | None,
        s: MVMSettings,
        gen: torch.Generator | None,
        sum_tiles: bool,
    ) -> Tensor:
        q, row_factor, mask = analog_forward(xp, w, s, gen)
        y = q.mul_(row_factor)
        if scale is not None:
            y.mul_(scale.unsqueeze(1))
        ctx.save_for_backward(xp if w.requires_grad else None, w, scale, mask)
        if not sum_tiles:
            return y
        return y.sum(dim=0) if y.shape[0] > 1 else y[0]

    @staticmethod
    def backward(
        ctx: Any, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None, None, None, None]:
        xp, w, scale, mask = ctx.saved_tensors
        g = grad if grad.dim() == 3 else grad.unsqueeze(0)  # [n_in or 1, N, out]
        if scale is not None:
            g = g * scale.unsqueeze(1)
        if g.shape[0] != w.shape[0]:
            g = g.expand(w.shape[0], -1, -1)
        if mask is not None:
            g = g * mask
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g[0] @ w[0]).unsqueeze(0) if w.shape[0] == 1 else torch.bmm(g, w)
        if ctx.needs_input_grad[1] and xp is not None:
            grad_w = torch.bmm(g.transpose(1, 2), xp)
        return grad_x, grad_w, None, None, None, None


def analog_linear(
    xp: Tensor,
    w: Tensor,
    scale: Tensor | None,
    s: MVMSettings,
    gen: torch.Generator | None = None,
    sum_tiles: bool = True,
) -> Tensor:
    """``[n_in, N, c]`` packed inputs -> ``[N, out]`` digital outputs (no bias),
    or ``[n_in, N, out]`` per-tile outputs when ``sum_tiles`` is False.

    ``scale`` (``[n_in, out]``, no gradient) holds the digital per-column
    factors; a learned scale that trains is applied by the caller on the
    per-tile outputs instead.
    """
    return _AnalogLinearFn.apply(xp, w, scale, s, gen, sum_tiles)
