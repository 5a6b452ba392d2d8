"""The paper-llm preset and the Gaussian device model behind its evaluation noise."""

from __future__ import annotations

import pytest
import torch

from analora.errors import ConfigError
from analora.hardware import HardwareConfig, load_hardware
from analora.hardware.devices import GaussianDevice, make_device


def test_paper_llm_is_weight_noise_only() -> None:
    hw = load_hardware("paper-llm")
    assert hw.training.weight_noise_std == hw.device.weight_noise_std == 0.067
    assert hw.converters.dac_bits is None and hw.converters.adc_bits is None
    assert hw.periphery.output_noise_std == 0.0 and hw.mapping.clip_sigma is None
    assert hw.device.model == "gaussian" and hw.drift_compensation.method == "none"
    rl = load_hardware(
        "paper-llm", ["training.weight_noise_std=0.03", "device.weight_noise_std=0.03"]
    )
    assert isinstance(make_device(rl.device), GaussianDevice)
    assert make_device(rl.device).weight_noise_std == 0.03  # type: ignore[attr-defined]


def test_existing_presets_keep_their_fingerprints() -> None:
    # Values from before device.weight_noise_std existed: saved chips still match.
    assert load_hardware("paper-pcm").fingerprint() == "edee4368a5dcc936"
    assert load_hardware("ideal").fingerprint() == "1351ee5f957985ac"
    assert (
        load_hardware("paper-llm").fingerprint()
        != load_hardware("paper-llm", ["device.weight_noise_std=0.03"]).fingerprint()
    )


def test_gaussian_needs_its_std() -> None:
    with pytest.raises(ConfigError, match="weight_noise_std"):
        HardwareConfig.from_dict({"device": {"model": "gaussian"}})


def test_gaussian_device_draws_once_per_chip_relative_to_tile_max() -> None:
    w = torch.randn(2, 64, 128)
    w_max = w.abs().amax(dim=(1, 2), keepdim=True).expand(2, 64, 1)
    dev = GaussianDevice(0.05)
    st = dev.program(w, w_max, torch.Generator().manual_seed(0), [])
    again = dev.program(w, w_max, torch.Generator().manual_seed(0), [])
    other = dev.program(w, w_max, torch.Generator().manual_seed(1), [])
    assert torch.equal(st["w"], again["w"]) and not torch.equal(st["w"], other["w"])
    rel = (st["w"] - w) / w_max
    assert rel.std().item() == pytest.approx(0.05, rel=0.05)
    # Reads are the programmed weights, at every age.
    read = dev.read(st, 1e6, torch.Generator(), [])
    assert torch.equal(read, st["w"])
