"""PCM formulas against hand-computed values (DESIGN.md constants)."""

import math

import pytest
import torch

from analora.hardware import pcm


def test_programming_noise_std() -> None:
    g = torch.tensor([0.0, 12.5, 25.0])
    # c0; c0 + c1/2 + c2/4; c0 + c1 + c2
    expected = [0.26348, 0.26348 + 1.9650 / 2 - 1.1731 / 4, 0.26348 + 1.9650 - 1.1731]
    assert pcm.programming_noise_std_uS(g).tolist() == pytest.approx(expected, rel=1e-6)
    # The std scales with g_max: same u, g_max 50 -> twice the std.
    assert pcm.programming_noise_std_uS(
        torch.tensor([50.0]), g_max_uS=50.0
    ).item() == pytest.approx(2 * expected[2], rel=1e-6)


def test_programming_clamps_at_zero() -> None:
    g = torch.zeros(3)
    out = pcm.program_conductances_uS(g, torch.full((3,), 1.0), torch.tensor([-2.0, 0.5, 1.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]


def test_drift_exponent_stats() -> None:
    g = torch.tensor([25.0, 2.5, 0.0])
    mu, sigma = pcm.drift_exponent_stats(g)
    ln01 = math.log(0.1)
    assert mu.tolist() == pytest.approx([0.049, -0.0155 * ln01 + 0.0244, 0.1], rel=1e-5)
    assert sigma.tolist() == pytest.approx([0.008, -0.0125 * ln01 - 0.0059, 0.045], rel=1e-5)
    nu = pcm.drift_exponents(torch.tensor([0.05]), torch.tensor([0.01]), torch.tensor([-10.0]))
    assert nu.item() == pytest.approx(0.05)  # |0.05 - 0.1|


def test_drift_factor() -> None:
    nu = torch.tensor([0.05])
    assert pcm.drift_factor(nu, 0.0).item() == 1.0
    assert pcm.drift_factor(nu, 3600.0).item() == pytest.approx(181.0**-0.05, rel=1e-6)


def test_read_noise() -> None:
    q = pcm.read_noise_q(torch.tensor([25.0, 0.0, 5.0]))
    assert q.tolist() == pytest.approx([0.0088, 0.2, 0.0088 / 0.2**0.65], rel=1e-5)
    assert pcm.read_noise_time_factor(0.0) == pytest.approx(math.sqrt(math.log(20.00000025 / 5e-7)))
    # With z = 1 and no drift: G = G_prog (1 + Q * time factor).
    g = pcm.read_conductances_uS(torch.tensor([25.0]), torch.zeros(1), 0.0, torch.ones(1))
    assert g.item() == pytest.approx(
        25.0 * (1 + 0.0088 * pcm.read_noise_time_factor(0.0)), rel=1e-5
    )


def test_pair_conductances_and_gdc() -> None:
    gp, gm = pcm.pair_conductances_uS(torch.tensor([0.5, -1.0, 0.0]), 1.0, 25.0)
    assert gp.tolist() == [12.5, 0.0, 0.0] and gm.tolist() == [0.0, 25.0, 0.0]
    ref = pcm.drift_readout(torch.full((1, 2, 2), 2.0))
    current = pcm.drift_readout(torch.full((1, 2, 2), -1.0))
    assert pcm.global_drift_compensation(ref, current).tolist() == [2.0]
