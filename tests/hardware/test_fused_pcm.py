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
