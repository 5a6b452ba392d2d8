"""PCM programming through the fused kernel against the torch formulas of
analora.hardware.pcm: the same values without noise, the same statistics
with it."""

from __future__ import annotations

import pytest
import torch

from analora import fused, load_hardware, seeds
from analora.hardware.devices import PCMDevice

pytestmark = pytest.mark.skipif(fused.load() is None, reason="no C++ compiler")


def _program(use: bool, **over: object) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    cfg = load_hardware("paper-pcm", {f"device.{k}": v for k, v in over.items()} or None).device
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 256, 200, generator=g).clamp(-2.5, 2.5)
    w_max = w.abs().amax(dim=-1, keepdim=True) * 1.2  # tile max >= row max
    with fused.kernels(use):
        st = PCMDevice(cfg).program(w, w_max, seeds.generator("p"), [])
    return st, w


def test_noise_free_programming_is_the_same() -> None:
    a, w = _program(False, prog_noise_scale=0.0, drift_scale=0.0)
    b, _ = _program(True, prog_noise_scale=0.0, drift_scale=0.0)
    assert torch.allclose(a["g_prog_uS"], b["g_prog_uS"], atol=1e-5)
    assert torch.equal(b["nu"], torch.zeros_like(b["nu"]))
    assert torch.equal(a["w_max"], b["w_max"])
    positive = w > 0
    assert torch.equal(b["g_prog_uS"][1][positive], torch.zeros_like(w[positive]))


def test_noisy_programming_has_the_same_statistics() -> None:
    a, w = _program(False)
    b, _ = _program(True)
    assert not torch.equal(a["g_prog_uS"], b["g_prog_uS"])
    target = (w.abs() / (w.abs().amax(dim=-1, keepdim=True) * 1.2) * 25.0).clamp(max=25.0)
    for st_a, st_b in ((a, b),):
        for dev in (0, 1):
            active = (w > 0) if dev == 0 else (w <= 0)
            for key in ("g_prog_uS", "nu"):
                x, y = st_a[key][dev][active], st_b[key][dev][active]
                if key == "g_prog_uS":
                    x, y = x - target[active], y - target[active]
                assert abs(x.mean() - y.mean()) < 0.02 * x.std() + 1e-6, (key, dev)
                assert abs(x.std() / y.std() - 1) < 0.02, (key, dev)
            idle = st_b["g_prog_uS"][1 - dev][active]
            ref = st_a["g_prog_uS"][1 - dev][active]
            assert abs((idle > 0).float().mean() - (ref > 0).float().mean()) < 0.01


def _read(use: bool, t_s: float, **over: object) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    st, _ = _program(True, **over)
    cfg = load_hardware("paper-pcm", {f"device.{k}": v for k, v in over.items()} or None).device
    with fused.kernels(use):
        w = PCMDevice(cfg).read(st, t_s, seeds.generator("r", t_s), [])
    return w, st


@pytest.mark.parametrize("t_s", [0.0, 3600.0, 3.15e8])
def test_noise_free_read_is_the_same(t_s: float) -> None:
    a, _ = _read(False, t_s, read_noise_scale=0.0)
    b, _ = _read(True, t_s, read_noise_scale=0.0)
    assert a.shape == b.shape
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("t_s", [0.0, 3600.0, 3.15e8])
def test_noisy_read_has_the_same_statistics(t_s: float) -> None:
    clean, st = _read(True, t_s, read_noise_scale=0.0)
    a, _ = _read(False, t_s)
    b, _ = _read(True, t_s)
    assert not torch.equal(a, b)
    # The read noise alone: its spread, its mean and its dependence on the
    # conductance (small devices are relatively noisier) must agree.
    na, nb = a - clean, b - clean
    assert abs(na.mean() - nb.mean()) < 0.02 * na.std()
    assert abs(na.std() / nb.std() - 1) < 0.02
    small = st["g_prog_uS"].amax(dim=0) < 5.0
    for part in (small, ~small):
        assert abs(na[part].std() / nb[part].std() - 1) < 0.03
    # Same seed, same bits.
    c, _ = _read(True, t_s)
    assert torch.equal(b, c)
