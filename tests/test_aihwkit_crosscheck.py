"""Fidelity: analora against IBM aihwkit 1.1.0 (TorchInferenceRPUConfig path).

Same weights, same settings, statistics compared. Tolerances:

* device statistics (programming-noise std per conductance bin, drift-factor
  mean and std at 1 h / 1 y / 10 y, read-noise std per bin, GDC factor):
  within 5 %. Sample sizes keep the sampling error of each statistic near
  0.5 % (std of a std estimate is ~1/sqrt(2n)), far inside the tolerance.
* a whole 384 x 1536 layer: RMS of the relative output error against the ideal
  output within 10 % of aihwkit's, in inference at 0 s, 1 day, 10 years and in
  training mode (weight-noise modifier), averaged over chips.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

aihwkit = pytest.importorskip(
    "aihwkit", reason="aihwkit not installed: pip install --no-deps aihwkit==1.1.0"
)

from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel  # noqa: E402
from aihwkit.nn.conversion import convert_to_analog  # noqa: E402

from analora.analog import AnalogLinear, program  # noqa: E402
from analora.hardware import load_hardware, pcm  # noqa: E402
from analora.hardware.aihwkit_bridge import AihwkitDevice, rpu_config_for  # noqa: E402
from analora.seeds import generator  # noqa: E402

pytestmark = pytest.mark.aihwkit

G_MAX = 25.0
BINS = [(0.0, 1e-9), (1.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0), (20.0, 25.0001)]


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def g_target() -> torch.Tensor:
    # Targets covering the whole range, with a block of exact zeros (the idle
    # device of each differential pair).
    torch.manual_seed(0)
    g = torch.rand(600_000) * G_MAX
    return torch.cat([g, torch.zeros(100_000)])


def _bin_std(residual: torch.Tensor, g: torch.Tensor, bins=BINS) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for lo, hi in bins:
        sel = (g >= lo) & (g < hi)
        out.append(residual[sel].std().item())
    return out


def test_programming_noise_std_per_bin(g_target: torch.Tensor) -> None:
    ref = PCMLikeNoiseModel(g_max=G_MAX)
    torch.manual_seed(1)
    theirs = ref.apply_programming_noise_to_conductance(g_target.clone()) - g_target
    sigma = pcm.programming_noise_std_uS(g_target)
    normal = torch.randn(g_target.shape, generator=generator("xcheck", "prog"))
    ours = pcm.program_conductances_uS(g_target, sigma, normal) - g_target
    for a, b in zip(_bin_std(ours, g_target), _bin_std(theirs, g_target), strict=True):
        assert rel(a, b) < 0.05, (a, b)


@pytest.mark.parametrize("t_s", [3600.0, 365 * 86400.0, 10 * 365 * 86400.0])
def test_drift_factor_distribution(g_target: torch.Tensor, t_s: float) -> None:
    ref = PCMLikeNoiseModel(g_max=G_MAX)
    torch.manual_seed(2)
    nu_theirs = ref.generate_drift_coefficients(g_target)
    mu, sig = pcm.drift_exponent_stats(g_target)
    nu_ours = pcm.drift_exponents(mu, sig, torch.randn(g_target.shape, generator=generator("nu")))
    f_theirs = ((t_s + 20.0) / 20.0) ** (-nu_theirs)
    f_ours = pcm.drift_factor(nu_ours, t_s)
    for lo, hi in BINS:
        sel = (g_target >= lo) & (g_target < hi)
        assert rel(f_ours[sel].mean().item(), f_theirs[sel].mean().item()) < 0.05
        assert rel(f_ours[sel].std().item(), f_theirs[sel].std().item()) < 0.05


@pytest.mark.parametrize("t_s", [0.0, 86400.0, 10 * 365 * 86400.0])
def test_read_noise_std_per_bin(g_target: torch.Tensor, t_s: float) -> None:
    ref = PCMLikeNoiseModel(g_max=G_MAX)
    g = g_target[g_target > 1.0]  # relative noise of conducting devices
    nu0 = torch.zeros_like(g)  # no drift: isolate the read noise
    torch.manual_seed(3)
    theirs = ref.apply_drift_noise_to_conductance(g.clone(), nu0, t_s) / g - 1
    ours = (
        pcm.read_conductances_uS(g, nu0, t_s, torch.randn(g.shape, generator=generator("rd"))) / g
        - 1
    )
    for a, b in zip(_bin_std(ours, g, BINS[1:]), _bin_std(theirs, g, BINS[1:]), strict=True):
        assert rel(a, b) < 0.05, (a, b)


def _weights(
    out_f: int = 1536, in_f: int = 384, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    # Heavy-tailed weights like a transformer FFN (Student-t, 4 dof).
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w = torch.distributions.StudentT(4.0).sample((out_f, in_f)) * 0.03
    b = torch.randn(out_f, generator=g) * 0.01
    return w, b


def _aihwkit_layer(w: torch.Tensor, b: torch.Tensor, hw) -> nn.Module:  # type: ignore[no-untyped-def]
    lin = nn.Linear(w.shape[1], w.shape[0])
    lin.weight.data.copy_(w)
    lin.bias.data.copy_(b)
    model = convert_to_analog(nn.Sequential(lin), rpu_config_for(hw))
    for tile in model.analog_tiles():
        tile.post_update_step()  # clip at 3 sigma and re-map, as at programming
    return model


def _analora_layer(w: torch.Tensor, b: torch.Tensor, hw) -> nn.Module:  # type: ignore[no-untyped-def]
    return nn.Sequential(AnalogLinear.from_digital(w, b, hw))


def _rms_rel(y: torch.Tensor, y_ideal: torch.Tensor) -> float:
    return ((y - y_ideal).norm() / y_ideal.norm()).item()


def test_gdc_factor_matches() -> None:
    hw = load_hardware("paper-pcm", {"tile.max_outputs": 512})
    w, b = _weights(512, 384)
    t_s = 86400.0
    ours, theirs = [], []
    for seed in range(4):
        torch.manual_seed(100 + seed)
        ref = _aihwkit_layer(w, b, hw).eval()
        ref.program_analog_weights()
        ref.drift_analog_weights(t_s)
        theirs.append(next(iter(ref.analog_tiles())).alpha.item())
        chip = program(_analora_layer(w, b, hw), seed=seed)
        chip.read(t_s)
        layer = chip.model[0]
        ours.append((layer.drift_scale[0, 0]).item())
    mean_o, mean_t = sum(ours) / len(ours), sum(theirs) / len(theirs)
    assert mean_t > 1.0  # drift lowers conductances; compensation scales up
    assert rel(mean_o, mean_t) < 0.05, (ours, theirs)


@pytest.mark.parametrize("t_s", [0.0, 86400.0, 10 * 365 * 86400.0])
def test_layer_inference_error_matches(t_s: float) -> None:
    hw = load_hardware("paper-pcm")
    w, b = _weights()
    x = torch.randn(256, 384, generator=generator("x"))
    y_ideal = x @ w.T + b
    ours, theirs = [], []
    for seed in range(3):
        torch.manual_seed(10 + seed)
        ref = _aihwkit_layer(w, b, hw).eval()
        ref.program_analog_weights()
        ref.drift_analog_weights(t_s)
        with torch.no_grad():
            theirs.append(_rms_rel(ref(x), y_ideal))
        chip = program(_analora_layer(w, b, hw).eval(), seed=seed)
        chip.read(t_s)
        with torch.no_grad():
            ours.append(_rms_rel(chip.model(x), y_ideal))
    mo, mt = sum(ours) / 3, sum(theirs) / 3
    assert rel(mo, mt) < 0.10, (ours, theirs)


def test_layer_training_error_matches() -> None:
    hw = load_hardware("paper-pcm")
    w, b = _weights()
    x = torch.randn(256, 384, generator=generator("x"))
    y_ideal = x @ w.T + b
    torch.manual_seed(5)
    ref = _aihwkit_layer(w, b, hw).train()
    ours_layer = _analora_layer(w, b, hw).train()
    with torch.no_grad():
        theirs = sum(_rms_rel(ref(x), y_ideal) for _ in range(5)) / 5
        ours = sum(_rms_rel(ours_layer(x), y_ideal) for _ in range(5)) / 5
    assert rel(ours, theirs) < 0.10, (ours, theirs)


def test_bridge_runs_another_aihwkit_device() -> None:
    """The bridge accepts aihwkit's non-PCM models (ReRAM here): programmed
    weights differ from the targets, reads are seeded and repeatable."""
    from aihwkit.inference import ReRamCMONoiseModel

    hw = load_hardware("paper-pcm")
    w, b = _weights(512, 384)
    dev = AihwkitDevice(ReRamCMONoiseModel())
    chip = program(_analora_layer(w, b, hw), device=dev, seed=3)
    assert chip.device_model.name == "aihwkit:ReRamCMONoiseModel"
    layer = chip.model[0]
    chip.read(3600.0)
    w1 = layer.chip_weight.clone()
    chip.read(3600.0)
    assert torch.equal(w1, layer.chip_weight)
    err = (w1 - layer.tile_weight).abs().mean().item()
    assert 1e-4 < err < 0.5
    # The same model through a config string.
    hw2 = load_hardware("paper-pcm", {"device.model": "aihwkit:ReRamCMONoiseModel"})
    chip2 = program(_analora_layer(w, b, hw2), seed=3)
    assert chip2.device_model.name == "aihwkit:ReRamCMONoiseModel"
    chip2.read(0.0)


def test_bridge_pcm_matches_builtin_pcm_error() -> None:
    """aihwkit's own PCM model through the bridge and the built-in PCM model
    give the same layer error (within the 10 % layer tolerance)."""
    hw = load_hardware("paper-pcm")
    w, b = _weights()
    x = torch.randn(256, 384, generator=generator("x"))
    y_ideal = x @ w.T + b
    errs = {}
    for name, dev in [("bridge", AihwkitDevice(PCMLikeNoiseModel(g_max=25.0))), ("builtin", None)]:
        vals = []
        for seed in range(3):
            chip = program(_analora_layer(w, b, hw).eval(), device=dev, seed=seed)
            chip.read(86400.0)
            with torch.no_grad():
                vals.append(_rms_rel(chip.model(x), y_ideal))
        errs[name] = sum(vals) / 3
    assert rel(errs["bridge"], errs["builtin"]) < 0.10, errs


def test_rpu_config_drift_compensation_off() -> None:
    hw = load_hardware("paper-pcm", {"drift_compensation.method": "none"})
    assert rpu_config_for(hw).drift_compensation is None
    assert isinstance(
        rpu_config_for(load_hardware("paper-pcm")).drift_compensation, GlobalDriftCompensation
    )
