"""aihwkit RPU configs in, aihwkit models out (skipped without aihwkit)."""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("aihwkit", reason="aihwkit not installed: pip install --no-deps aihwkit==1.1.0")

from aihwkit.inference import ReRamWan2022NoiseModel
from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig
from aihwkit.simulator.parameters.enums import WeightClipType

from analora.analog import program
from analora.analog.convert import convert, digital_twin
from analora.analog.export import export_to_aihwkit, programmed_weights
from analora.errors import ConfigError
from analora.hardware import load_hardware
from analora.hardware.aihwkit_bridge import rpu_config_for

pytestmark = pytest.mark.aihwkit

ROUND_TRIP = [
    ("paper-pcm", ["bound_management=iterative-batch"]),
    ("paper-pcm-6bit", ["bound_management=iterative-batch"]),
    ("paper-pcm", ["bound_management=none", "dac_bits=null", "weight_scaling=tile"]),
    ("paper-pcm", ["bound_management=iterative-batch", "drift_compensation.method=none"]),
]


@pytest.mark.parametrize(("preset", "sets"), ROUND_TRIP)
def test_round_trip_through_rpu_config(preset: str, sets: list[str]) -> None:
    hw = load_hardware(preset, sets)
    back = load_hardware(rpu_config_for(hw))
    a, b = hw.to_dict(), back.to_dict()
    a.pop("name"), b.pop("name")
    assert a == b
    assert back.fingerprint() == hw.fingerprint()


def test_aihwkit_defaults_and_the_cpp_config() -> None:
    hw = load_hardware(InferenceRPUConfig())  # the C++-tile config maps the same way
    assert hw.converters.dac_bits == 7 and hw.converters.adc_bits == 9
    assert hw.periphery.bound_management == "iterative-batch" and hw.device.model == "pcm"
    assert load_hardware(TorchInferenceRPUConfig()).fingerprint() == hw.fingerprint()
    other = TorchInferenceRPUConfig()
    other.noise_model = ReRamWan2022NoiseModel()
    assert load_hardware(other).device.model == "aihwkit:ReRamWan2022NoiseModel"


def _refused(rpu, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as exc:
        load_hardware(rpu)
    msg = str(exc.value)
    assert msg.startswith(f"{field}=") and "\n" not in msg, msg


def test_what_cannot_map_is_named() -> None:
    rpu = rpu_config_for(load_hardware("paper-pcm"))
    for field, edit in [
        ("forward.w_noise", lambda r: setattr(r.forward, "w_noise", 0.02)),
        ("forward.ir_drop", lambda r: setattr(r.forward, "ir_drop", 1.0)),
        ("forward.inp_res", lambda r: setattr(r.forward, "inp_res", 1 / 256)),
        (
            "forward.noise_management",
            lambda r: setattr(r.forward, "noise_management", r.forward.noise_management.MAX),
        ),
        ("mapping.weight_scaling_omega", lambda r: setattr(r.mapping, "weight_scaling_omega", 0.6)),
        ("clip.type", lambda r: setattr(r.clip, "type", WeightClipType.FIXED_VALUE)),
        ("pre_post.input_range.enable", lambda r: setattr(r.pre_post.input_range, "enable", True)),
        ("noise_model.noise_scale", lambda r: _reram(r)),
    ]:
        broken = copy.deepcopy(rpu)
        edit(broken)
        _refused(broken, field)


def _reram(rpu) -> None:  # type: ignore[no-untyped-def]
    model = ReRamWan2022NoiseModel()
    model.noise_scale = 3.0
    rpu.noise_model = model


@pytest.fixture
def converted(tiny_bert):  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
    return model


def test_export_a_model(converted, ids) -> None:  # type: ignore[no-untyped-def]
    from aihwkit.nn import AnalogLinear as AihwkitLinear

    exported = export_to_aihwkit(converted)
    twin = digital_twin(converted)
    analog = {n for n, m in exported.named_modules() if isinstance(m, AihwkitLinear)}
    assert "classifier" not in analog and "bert.encoder.layer.0.attention.self.query" in analog
    for name in analog:
        w, _ = exported.get_submodule(name).get_weights()
        assert torch.allclose(w, twin.get_submodule(name).weight, atol=1e-6)
    with torch.no_grad():
        out = exported(input_ids=ids).logits  # aihwkit programs and runs it itself
    assert out.shape == (3, 3) and torch.isfinite(out).all()


def test_export_a_chip_carries_its_programming(converted, ids) -> None:  # type: ignore[no-untyped-def]
    chip = program(converted, seed=4)
    exported = export_to_aihwkit(chip)
    weights = programmed_weights(chip)
    targets = {n: m.weight for n, m in digital_twin(converted).named_modules() if n in weights}
    for name, w_prog in weights.items():
        layer = exported.get_submodule(name)
        w, _ = layer.get_weights()
        assert torch.allclose(w, w_prog, atol=1e-5)
        assert not torch.allclose(w, targets[name], atol=1e-4)  # the chip's noise, not the targets
        assert all(t.programmed_weights is not None for t in layer.analog_tiles())
    exported.drift_analog_weights(3600.0)  # aihwkit ages this chip
    w_1h, _ = exported.get_submodule(name).get_weights()
    assert not torch.allclose(w_1h, weights[name], atol=1e-5)
