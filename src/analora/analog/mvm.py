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
directly and each quantiser is one in-place ``round_``; the output noise is
added inside the GEMM (``addmm`` with the noise as its input) and drawn in
parallel (:func:`analora.seeds.normal_`). Gradients are
straight-through (the quantisers and the noise count as identity), computed in
one custom autograd function so that no intermediate is kept for backward:
``dy/dx_i = scale_i * w_i`` and, when the analog weights train,
``dL/dw_i = (g scale_i)^T x_i``.

On the CPU the forward runs through the fused kernels of
:mod:`analora.fused` where they apply (the DAC in one pass; the noise, ADC,
bound check, scales, tile sum and bias in one pass after the GEMM): the same
statistics as the torch path, not the same bits (the noise comes from Philox
counters). Elsewhere, or with ``fused.kernels(False)``, the torch path runs;
every tensor it makes lives on the input's device, and off the CPU bound
management runs masked rounds over all rows (no index read back).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from analora import fused, seeds
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


def abs_max(x: Tensor) -> Tensor:
    """``max |x|`` over the last dimension, keepdim (two fast reductions
    instead of an ``abs`` temporary)."""
    return torch.maximum(x.amax(dim=-1, keepdim=True), x.amin(dim=-1, keepdim=True).neg_())


_local = threading.local()


def _scratch(role: str, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """A reusable per-thread, per-device buffer for intermediates that never
    leave the forward pass. Fresh large tensors cost page faults on first
    touch (the CPU allocator returns them to the OS), comparable to the
    arithmetic itself."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    key = (role, device)
    size = math.prod(shape)
    buf = pool.get(key)
    if buf is None or buf.numel() < size:
        buf = pool[key] = torch.empty(size, device=device)
    return buf[:size].view(shape)


def _dac_codes(x: Tensor, inv: Tensor | float, s: MVMSettings, reuse: bool = False) -> Tensor:
    """Input codes ``x * inv``, rounded and clamped by the DAC."""
    codes = torch.mul(x, inv, out=_scratch("codes", tuple(x.shape), x.device)) if reuse else x * inv
    if s.input_step is not None:
        codes.round_()
        if s.clamp_input:
            lim = s.input_bound / s.input_step
            codes.clamp_(-lim, lim)
    return codes


def _noisy_matmul(codes: Tensor, w_t: Tensor, noise_codes: float, out: Tensor) -> Tensor:
    """``out = codes @ w_t + noise_codes * out`` for one input chunk: ``out``
    holds N(0, 1) draws (or anything, when ``noise_codes`` is 0), so the noise
    is added in the GEMM's accumulator (``addmm_``) at no extra pass.

    ``codes``: ``[N, c]`` (may be strided), ``w_t``: ``[c, out]``.
    """
    if noise_codes <= 0.0:
        return torch.mm(codes, w_t, out=out)
    return out.addmm_(codes, w_t, beta=noise_codes)


def _row_exceeds(q: Tensor, bound: float) -> Tensor:
    """``[..., N]`` bool: rows with any |q| > bound."""
    return (q.amax(dim=-1) > bound) | (q.amin(dim=-1) < -bound)


def analog_forward(
    xp: Tensor,
    w: Tensor,
    s: MVMSettings,
    gen: torch.Generator | None = None,
    masked_bm: bool | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Raw tile outputs for packed inputs, without digital scales.

    Args:
        xp: ``[N, n_in, c]`` packed inputs.
        w: ``[n_in, out, c]`` normalised effective weights, on ``xp``'s device.
        gen: generator on that device (its global RNG when None).
        masked_bm: bound management by masked rounds over all rows, without
            reading anything back to the host but one flag per round (the
            default off the CPU), instead of gathering the clipped rows.
    Returns:
        ``q`` ``[n_in, N, out]`` ADC codes, ``row_factor`` ``[n_in, N, 1]``
        such that the tile output is ``q * row_factor``, and a bool mask of
        outputs that are not clipped (None when nothing clipped). ``q`` is a
        scratch buffer, valid until the next call in this thread.
    """
    step_in = s.input_step or 1.0
    step_out = s.output_step or 1.0
    n, n_in = xp.shape[0], xp.shape[1]
    if s.input_scaling:
        a = abs_max(xp)  # [N, n_in, 1]
        a = torch.where(a > 0, a, torch.ones_like(a))
    else:
        a = torch.ones(n, n_in, 1, device=xp.device)
    # [n_in, c, out] weights in ADC codes per DAC code.
    w_t = (w * (step_in / step_out) if step_in != step_out else w).transpose(1, 2)
    noise_codes = s.output_noise_std / step_out
    bound = None if s.output_bound is None else s.output_bound / step_out

    quantise = s.input_scaling or s.input_step is not None
    codes = _dac_codes(xp, 1.0 / (a * step_in), s, reuse=True) if quantise else xp
    q = _scratch("q", (n_in, n, w.shape[1]), xp.device)
    if noise_codes > 0.0:
        seeds.normal_(q, gen)  # one draw for all tiles: one parallel fill
    for i in range(n_in):
        _noisy_matmul(codes[:, i], w_t[i], noise_codes, out=q[i])
    if s.output_step is not None:
        q.round_()
    a = a.transpose(0, 1)  # [n_in, N, 1]
    if bound is None:
        return q, a * step_out, None

    tile = _Tiles(xp, w_t, a, s, gen, noise_codes, step_in)
    clipping = _row_exceeds(q, bound)  # [n_in, N]
    masked = xp.device.type != "cpu" if masked_bm is None else masked_bm
    if s.bound_management == "none":
        reduction = torch.ones_like(a)
    elif masked:
        reduction = _bound_manage_masked(q, clipping, tile, bound)
    else:
        reduction = _bound_manage_gather(q, clipping, tile, bound)
    mask = None
    if masked or bool(clipping.any()):
        mask = q.abs() <= bound
        q.clamp_(-bound, bound)
    return q, a.mul(reduction).mul_(step_out), mask


@dataclass
class _Tiles:
    """What a bound-management round needs to re-run rows of a tile."""

    xp: Tensor
    w_t: Tensor
    a: Tensor
    s: MVMSettings
    gen: torch.Generator | None
    noise_codes: float
    step_in: float

    def run(self, i: int, rows: Tensor | slice, r: float | Tensor) -> Tensor:
        """ADC codes of tile ``i`` for input ``rows`` at reduction ``r``."""
        c = _dac_codes(self.xp[rows, i], 1.0 / (self.a[i, rows] * (r * self.step_in)), self.s)
        qi = torch.empty(c.shape[0], self.w_t.shape[2], device=c.device)
        if self.noise_codes > 0.0:
            seeds.normal_(qi, self.gen)
        _noisy_matmul(c, self.w_t[i], self.noise_codes, out=qi)
        if self.s.output_step is not None:
            qi.round_()
        return qi


def _bound_manage_gather(q: Tensor, clipping: Tensor, tile: _Tiles, bound: float) -> Tensor:
    """Re-run only the clipped rows, gathered, doubling the reduction each
    round (reads the clipped-row indices back to the host: cheapest on CPU).
    Updates ``q`` and ``clipping`` in place; returns the reductions."""
    reduction = torch.ones_like(tile.a)
    r = 1.0
    while r < tile.s.bm_max_reduction and bool(clipping.any()):
        r *= 2.0
        for i in range(q.shape[0]):
            rows = clipping[i]
            if tile.s.bound_management == "iterative-batch" and bool(rows.any()):
                rows = torch.ones_like(rows)
            idx = rows.nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            qi = tile.run(i, idx, r)
            q[i, idx] = qi
            reduction[i, idx] = r
            clipping[i, idx] = _row_exceeds(qi, bound)
    return reduction


def _bound_manage_masked(q: Tensor, clipping: Tensor, tile: _Tiles, bound: float) -> Tensor:
    """The same rounds over all rows of a tile, keeping the new outputs of
    the clipped rows only (``torch.where``): no index read back, one flag per
    round. Costs a full tile re-run per round with clipping."""
    reduction = torch.ones_like(tile.a)
    r = 1.0
    while r < tile.s.bm_max_reduction and bool(clipping.any()):
        r *= 2.0
        for i in range(q.shape[0]):
            rows = clipping[i]
            if tile.s.bound_management == "iterative-batch":
                rows = rows.any().expand_as(rows)
            qi = tile.run(i, slice(None), r)
            keep = rows.unsqueeze(1)
            q[i] = torch.where(keep, qi, q[i])
            reduction[i] = torch.where(keep, r, reduction[i])
            clipping[i] = rows & _row_exceeds(qi, bound)
    return reduction


def _fused_lib(xp: Tensor, w: Tensor, s: MVMSettings, sum_tiles: bool) -> Any:
    """The kernel library when the fused path applies to this call, else None."""
    if not sum_tiles or w.dtype != torch.float32:
        return None
    if s.bound_management not in ("none", "iterative"):
        return None
    return fused.for_tensor(xp)


def _fused_forward(
    lib: Any,
    xp: Tensor,
    w: Tensor,
    scale: Tensor | None,
    bias: Tensor | None,
    s: MVMSettings,
    gen: torch.Generator | None,
    one_hot: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """:func:`analog_forward` plus scales, tile sum and bias, with the fused
    kernels: ``[N, out]`` outputs and the not-clipped mask (None if none
    clipped). Statistically the same as the torch path; other bits (the
    output noise comes from the kernel's counter-based generator).

    ``one_hot``: the caller promises that input row k of every tile is zero
    but at position k (``N`` = the tile's input size; the drift-compensation
    read-out drives the identity). Then row k of a tile's product is its DAC
    code k times weight column k, formed without the GEMM: the same numbers,
    since every other term of the sum is an exact zero."""
    step_in, step_out = s.input_step or 1.0, s.output_step or 1.0
    n, n_in = xp.shape[0], xp.shape[1]
    x = xp.contiguous()
    if s.input_scaling or s.input_step is not None:
        codes = _scratch("codes", tuple(x.shape), x.device)
        lim = s.input_bound / s.input_step if s.clamp_input and s.input_step else None
        quantise = s.input_step is not None
        a = fused.dac(lib, x, step_in, s.input_scaling, quantise, lim, codes)
    else:
        codes, a = x, torch.ones(n, n_in, 1, device=x.device)
    acc = _scratch("q", (n_in, n, w.shape[1]), x.device)
    if one_hot:
        if n != xp.shape[2]:
            raise ValueError(f"one_hot needs one input row per tile input: {n} != {xp.shape[2]}")
        diagonal = codes.diagonal(dim1=0, dim2=2)  # [n_in, N]: code k of row k
        for i in range(n_in):
            torch.mul(w[i].T, diagonal[i].unsqueeze(1), out=acc[i])
    else:
        for i in range(n_in):  # in DAC codes x weights; the kernel turns them into ADC codes
            torch.mm(codes[:, i], w[i].T, out=acc[i])
    a = a.transpose(0, 1)  # [n_in, N, 1]
    noise = s.output_noise_std / step_out
    bound = None if s.output_bound is None else s.output_bound / step_out
    seed = (
        int(torch.randint(0, 2**62, (1,), generator=gen, device=x.device).item())
        if noise > 0
        else 0
    )
    y = torch.empty(n, w.shape[1], device=x.device)
    flags = torch.empty(n_in, n, dtype=torch.uint8, device=x.device)
    sc = None if scale is None else scale.detach().contiguous()
    b = None if bias is None else bias.detach().contiguous()
    rf = (a.squeeze(-1) * step_out).contiguous()  # [n_in, N] (a is a transposed view)
    gain = step_in / step_out
    flagged = fused.epilogue(
        lib, acc, gain, rf, sc, b, noise, s.output_step is not None, bound, seed, y, flags
    )
    if not flagged or bound is None:
        return y, None
    clipping = flags.bool()
    rows = clipping.any(dim=0).nonzero().squeeze(1)
    reduction = torch.ones_like(a)
    if s.bound_management != "none":
        w_t = (w * gain).transpose(1, 2)
        tile = _Tiles(xp, w_t, a, s, gen, noise, step_in)
        reduction = _bound_manage_gather(acc, clipping, tile, bound)
    q = acc[:, rows]  # [n_in, R, out] codes of the flagged rows
    mask = None
    clipped = q.abs() > bound
    if bool(clipped.any()):
        mask = torch.ones(n_in, n, w.shape[1], dtype=torch.bool, device=x.device)
        mask[:, rows] = ~clipped
    yr = q.clamp_(-bound, bound).mul_(a[:, rows] * reduction[:, rows] * step_out)
    if sc is not None:
        yr.mul_(sc.unsqueeze(1))
    y[rows] = yr.sum(dim=0) if b is None else yr.sum(dim=0).add_(b)
    return y, mask


def tile_outputs(
    xp: Tensor,
    w: Tensor,
    s: MVMSettings,
    gen: torch.Generator | None = None,
    one_hot: bool = False,
) -> Tensor:
    """``[n_in, N, out]``: each tile's output (``q * row_factor`` of
    :func:`analog_forward`) for packed inputs, through the fused kernels
    when they apply (one tile at a time). ``one_hot``: see
    :func:`_fused_forward` (the torch path ignores it)."""
    lib = _fused_lib(xp, w, s, True)
    if lib is None:
        q, row_factor, _ = analog_forward(xp, w, s, gen)
        return q * row_factor
    return torch.stack(
        [
            _fused_forward(lib, xp[:, i : i + 1], w[i : i + 1], None, None, s, gen, one_hot)[0]
            for i in range(w.shape[0])
        ]
    )


class _AnalogLinearFn(torch.autograd.Function):
    """Forward of :func:`analog_forward` plus digital scales and bias;
    straight-through backward."""

    @staticmethod
    def forward(
        ctx: Any,
        xp: Tensor,
        w: Tensor,
        scale: Tensor | None,
        bias: Tensor | None,
        s: MVMSettings,
        gen: torch.Generator | None,
        sum_tiles: bool,
    ) -> Tensor:
        lib = _fused_lib(xp, w, s, sum_tiles)
        if lib is not None:
            out, mask = _fused_forward(lib, xp, w, scale, bias, s, gen)
            ctx.save_for_backward(xp if w.requires_grad else None, w, scale, mask)
            ctx.has_bias = bias is not None
            return out
        q, row_factor, mask = analog_forward(xp, w, s, gen)
        y = q.mul_(row_factor)  # [n_in, N, out], scratch
        ctx.save_for_backward(xp if w.requires_grad else None, w, scale, mask)
        ctx.has_bias = bias is not None
        # Every return below is a fresh tensor (y is a scratch buffer).
        if not sum_tiles:
            assert bias is None, "per-tile outputs carry no bias"
            return y * scale.unsqueeze(1) if scale is not None else y.clone()
        if y.shape[0] == 1:
            y0 = y[0]
            if scale is None:
                return y0.clone() if bias is None else y0 + bias
            return y0 * scale[0] if bias is None else torch.addcmul(bias, y0, scale[0])
        if scale is not None:
            y.mul_(scale.unsqueeze(1))
        out = y.sum(dim=0)
        return out if bias is None else out.add_(bias)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        xp, w, scale, mask = ctx.saved_tensors
        n_in = w.shape[0]
        grad_bias = grad.sum(dim=0) if ctx.has_bias and ctx.needs_input_grad[3] else None
        g = grad if grad.dim() == 3 else grad.unsqueeze(0)  # [n_in or 1, N, out]
        if g.shape[0] != n_in:
            g = g.expand(n_in, -1, -1)
        if mask is not None:  # outputs the ADC clipped pass no gradient
            g = g * mask
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            # (g * scale) @ w == g @ (scale[:, None] * w): scale the small side.
            ws = w * scale.unsqueeze(-1) if scale is not None else w
            if n_in == 1:
                grad_x = (g[0] @ ws[0]).unsqueeze(1)
            else:
                grad_x = torch.empty(g.shape[1], n_in, w.shape[2], device=g.device)
                for i in range(n_in):
                    torch.mm(g[i], ws[i], out=grad_x[:, i])
        if ctx.needs_input_grad[1] and xp is not None:
            grad_w = torch.stack([g[i].T @ xp[:, i] for i in range(n_in)])  # [n_in, out, c]
            if scale is not None:
                grad_w.mul_(scale.unsqueeze(-1))
        return grad_x, grad_w, None, grad_bias, None, None, None


def analog_linear(
    xp: Tensor,
    w: Tensor,
    scale: Tensor | None,
    s: MVMSettings,
    gen: torch.Generator | None = None,
    sum_tiles: bool = True,
    bias: Tensor | None = None,
) -> Tensor:
    """``[N, n_in, c]`` packed inputs -> ``[N, out]`` digital outputs (plus
    ``bias``), or ``[n_in, N, out]`` per-tile outputs (no bias) when
    ``sum_tiles`` is False.

    ``scale`` (``[n_in, out]``, no gradient) holds the digital per-column
    factors; a learned scale that trains is applied by the caller on the
    per-tile outputs instead.
    """
    return _AnalogLinearFn.apply(xp, w, scale, bias, s, gen, sum_tiles)
