import dataclasses
import json

import pytest

from analora.errors import ConfigError
from analora.hardware import HardwareConfig, load_hardware, preset_names


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_validates_and_round_trips(name: str) -> None:
    hw = load_hardware(name)
    assert hw.name == name
    again = HardwareConfig.from_dict(json.loads(json.dumps(hw.to_dict())))
    assert again == hw


def test_paper_pcm_is_the_papers_settings() -> None:
    # PAPER.md "Hardware model used" and DESIGN.md "The PCM device model".
    hw = load_hardware("paper-pcm")
    assert (hw.tile.max_inputs, hw.tile.max_outputs) == (512, 512)
    assert (hw.converters.dac_bits, hw.converters.adc_bits) == (8, 8)
    assert hw.converters.input_step == pytest.approx(2 / 254)
    assert hw.converters.output_bound == 12.0
    assert hw.periphery.input_scaling == "abs-max"
    assert hw.periphery.bound_management == "iterative"
    assert hw.periphery.output_noise_std == 0.04
    assert hw.mapping.weight_scaling == "channel" and hw.mapping.learn_out_scale
    assert hw.mapping.clip_sigma == 3.0
    assert hw.training.weight_noise_std == 0.067
    d = hw.device
    assert (d.model, d.g_max_uS, d.t0_s, d.t_read_s) == ("pcm", 25.0, 20.0, 250e-9)
    assert d.prog_coeffs == (0.26348, 1.9650, -1.1731)
    assert hw.drift_compensation.method == "global"


def test_6bit_differs_only_in_converters() -> None:
    a, b = load_hardware("paper-pcm").to_dict(), load_hardware("paper-pcm-6bit").to_dict()
    assert b["converters"]["dac_bits"] == b["converters"]["adc_bits"] == 6
    for key in a:
        if key not in ("name", "converters"):
            assert a[key] == b[key]


def test_ideal_is_off_everywhere() -> None:
    hw = load_hardware("ideal")
    assert hw.converters.input_step is None and hw.converters.output_step is None
    assert hw.periphery.output_noise_std == 0 and hw.training.weight_noise_std == 0
    assert hw.mapping.clip_sigma is None and hw.device.model == "ideal"


def test_configs_are_frozen() -> None:
    hw = load_hardware("paper-pcm")
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.converters.adc_bits = 4  # type: ignore[misc]


def test_overrides_dotted_bare_and_strings() -> None:
    hw = load_hardware("paper-pcm", ["converters.adc_bits=6", "output_noise_std=0.0"])
    assert hw.converters.adc_bits == 6 and hw.periphery.output_noise_std == 0.0
    hw = load_hardware("paper-pcm").with_overrides(
        {"adc_bits": None, "converters.dac_bits": "null"}
    )
    assert hw.converters.adc_bits is None and hw.converters.dac_bits is None
    assert hw.fingerprint() != load_hardware("paper-pcm").fingerprint()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"adc_bits": 0}, "converters.adc_bits"),
        ({"dac_bits": 3.5}, "converters.dac_bits"),
        ({"output_noise_std": -0.1}, "periphery.output_noise_std"),
        ({"bound_management": "iterate"}, "periphery.bound_management"),
        ({"clip_sigma": 0}, "mapping.clip_sigma"),
        ({"g_max_uS": "abc"}, "device.g_max_uS"),
        ({"device.model": "pcn"}, "device.model"),
        ({"learn_out_scale": "maybe"}, "mapping.learn_out_scale"),
    ],
)
def test_invalid_values_name_field_value_and_allowed(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_hardware("paper-pcm", overrides)
    msg = str(info.value)
    assert info.value.field == field
    assert field in msg and "allowed" in msg and "--set" in msg
    assert "\n" not in msg


def test_unknown_preset_and_key_suggest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'paper-pcm'"):
        load_hardware("paper-pmc")
    with pytest.raises(ConfigError, match="did you mean 'adc_bits'"):
        load_hardware("paper-pcm", {"adc_bit": 6})
    with pytest.raises(ConfigError, match="did you mean"):
        HardwareConfig.from_dict({"converters": {"adc_bitz": 6}})


def test_files_yaml_base_and_syntax_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "mine.yaml"
    good.write_text("base: paper-pcm\nperiphery: {output_noise_std: 0.02}\n")
    hw = load_hardware(good)
    assert hw.name == "mine" and hw.periphery.output_noise_std == 0.02
    assert hw.converters.adc_bits == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("converters: {adc_bits: 6\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_hardware(bad)
    with pytest.raises(ConfigError, match="existing config file"):
        load_hardware(tmp_path / "missing.yaml")


def test_yaml_12_booleans_off_is_a_string(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """YAML 1.1 reads off/on/yes/no as booleans; a config reads them as the words."""
    from analora.hardware.config import parse_value

    assert parse_value("drift_compensation.method", "off") == "off"
    assert [parse_value("x", v) for v in ("yes", "On", "NO")] == ["yes", "On", "NO"]
    assert parse_value("x", "true") is True and parse_value("x", "false") is False
    assert parse_value("x", "6") == 6 and parse_value("x", "null") is None
    with pytest.raises(ConfigError) as exc:
        load_hardware("paper-pcm", ["drift_compensation.method=off"])
    msg = str(exc.value)
    assert "drift_compensation.method='off' is invalid" in msg and "global, none" in msg
    assert "False" not in msg
    path = tmp_path / "hw.yaml"
    path.write_text("base: paper-pcm\ndrift_compensation:\n  method: off\n")
    with pytest.raises(ConfigError, match="method='off'"):
        load_hardware(str(path))
    hw = load_hardware("paper-pcm", ["drift_compensation.method=none"])
    assert hw.drift_compensation.method == "none"
