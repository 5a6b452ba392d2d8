"""Statistical PCM device model: pure tensor functions.

Conductances are in microsiemens (uS), times in seconds. One weight is a
differential pair ``G+ - G-`` scaled so that the largest |w| of a tile maps to
``g_max``. The formulas and constants are those of the statistical model fitted
on IBM PCM devices:

* S. R. Nandakumar et al., "Phase-change memory models for deep learning
  training and inference", ICECS 2019 (programming noise, drift, read noise);
* V. Joshi et al., "Accurate deep neural network inference using computational
  phase-change memory", Nature Communications 11, 2473 (2020) (global drift
  compensation);
* their reference implementation, IBM aihwkit ``PCMLikeNoiseModel`` and
  ``GlobalDriftCompensation`` (aihwkit 1.1.0), whose default constants are used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

G_REL_FLOOR = 1e-7
"""Lower clip of |G / g_max| before taking its log (aihwkit ``_ZERO_CLIP``)."""


def pair_conductances_uS(
    w: Tensor, w_max: Tensor | float, g_max_uS: float
) -> tuple[Tensor, Tensor]:
    """Target conductances of a differential pair: ``G+ = clamp(k w, 0, g_max)``,
    ``G- = clamp(-k w, 0, g_max)`` with ``k = g_max / w_max`` (w_max: the
    tile's max |w|, broadcastable to ``w``)."""
    k = g_max_uS / torch.as_tensor(w_max, dtype=w.dtype, device=w.device).clamp(min=G_REL_FLOOR)
    scaled = w * k
    return scaled.clamp(0.0, g_max_uS), (-scaled).clamp(0.0, g_max_uS)


def programming_noise_std_uS(
    g_target_uS: Tensor,
    g_max_uS: float = 25.0,
    coeffs: Sequence[float] = (0.26348, 1.9650, -1.1731),
    coeffs_g_max_uS: float = 25.0,
) -> Tensor:
    """sigma_prog(G) = (c0 + c1 u + c2 u^2) * g_max / g_ref, u = G / g_max.

    Nandakumar et al. 2019; aihwkit ``apply_programming_noise_to_conductance``.
    """
    u = g_target_uS / g_max_uS
    sigma = torch.full_like(u, coeffs[-1])
    for c in reversed(coeffs[:-1]):  # Horner: c0 + u (c1 + u c2)
        sigma = sigma.mul_(u).add_(c)
    return sigma.mul_(g_max_uS / coeffs_g_max_uS)


def program_conductances_uS(
    g_target_uS: Tensor, sigma_uS: Tensor, normal: Tensor, noise_scale: float = 1.0
) -> Tensor:
    """G_prog = max(0, G + scale * sigma_prog * z), z ~ N(0, 1) given as ``normal``."""
    return (g_target_uS + (noise_scale * sigma_uS) * normal).clamp_(min=0.0)


def drift_exponent_stats(g_target_uS: Tensor, g_max_uS: float = 25.0) -> tuple[Tensor, Tensor]:
    """Mean and std of the drift exponent nu for a target conductance:

    g_r = max(|G / g_max|, 1e-7);
    mu_nu = clamp(-0.0155 ln g_r + 0.0244, 0.049, 0.1);
    sigma_nu = clamp(-0.0125 ln g_r - 0.0059, 0.008, 0.045).

    Nandakumar et al. 2019; aihwkit ``PCMLikeNoiseModel.generate_drift_coefficients``.
    """
    log_g = torch.log((g_target_uS / g_max_uS).abs().clamp_(min=G_REL_FLOOR))
    mu = (-0.0155 * log_g + 0.0244).clamp_(0.049, 0.1)
    sigma = (-0.0125 * log_g - 0.0059).clamp_(0.008, 0.045)
    return mu, sigma


def drift_exponents(mu: Tensor, sigma: Tensor, normal: Tensor, drift_scale: float = 1.0) -> Tensor:
    """nu = |mu + sigma z| * drift_scale, drawn once per device at programming."""
    return (mu + sigma * normal).abs_().mul_(drift_scale)


def drift_factor(nu: Tensor, t_s: float, t0_s: float = 20.0) -> Tensor:
    """G(t) / G_prog = ((t + t0) / t0)^(-nu); exactly 1 at t = 0."""
    if t_s <= 0:
        return torch.ones_like(nu)
    return torch.exp(nu * -math.log((t_s + t0_s) / t0_s))


def read_noise_q(g_prog_uS: Tensor, g_max_uS: float = 25.0) -> Tensor:
    """Q_s = min(0.0088 / max((G_prog / g_max)^0.65, 1e-3), 0.2): the 1/f noise
    amplitude of a device (Nandakumar et al. 2019; aihwkit)."""
    return (0.0088 / (g_prog_uS.abs() / g_max_uS).pow(0.65).clamp_(min=1e-3)).clamp_(max=0.2)


def read_noise_time_factor(t_s: float, t0_s: float = 20.0, t_read_s: float = 250e-9) -> float:
    """sqrt(ln((t' + t_read) / (2 t_read))) with t' = t + t0: the growth of the
    accumulated 1/f read noise with time since programming."""
    t_prime = t_s + t0_s
    return math.sqrt(math.log((t_prime + t_read_s) / (2.0 * t_read_s)))


def read_conductances_uS(
    g_prog_uS: Tensor,
    nu: Tensor,
    t_s: float,
    normal: Tensor,
    g_max_uS: float = 25.0,
    t0_s: float = 20.0,
    t_read_s: float = 250e-9,
    read_noise_scale: float = 1.0,
) -> Tensor:
    """Conductance at age ``t_s``: drift, then read noise relative to |G_d|:

    G_d = G_prog ((t + t0)/t0)^(-nu);
    G = max(0, G_d + |G_d| * scale * Q_s(G_prog) * sqrt(ln((t' + t_read)/(2 t_read))) * z).
    """
    g_drift = g_prog_uS * drift_factor(nu, t_s, t0_s)
    sigma_rel = read_noise_q(g_prog_uS, g_max_uS).mul_(
        read_noise_scale * read_noise_time_factor(t_s, t0_s, t_read_s)
    )
    return torch.addcmul(g_drift, g_drift.abs() * sigma_rel, normal).clamp_(min=0.0)


def global_drift_compensation(reference_readout: Tensor, current_readout: Tensor) -> Tensor:
    """alpha = beta_0 / beta_t: the factor that rescales a tile's outputs at age
    t, from the read-outs (:func:`drift_readout`) of the same reference input
    right after programming and at t (Joshi et al. 2020; aihwkit
    ``GlobalDriftCompensation``)."""
    return reference_readout / current_readout


def drift_readout(out: Tensor) -> Tensor:
    """beta = max(mean |out|, 1e-4) over the last two dimensions (one per tile)."""
    return out.abs().mean(dim=(-2, -1)).clamp(min=1e-4)
