"""Changed hardware constraints on a programmed chip: the periphery switches,
the devices are never rewritten (state fingerprint), and adapters re-adapt
from a warm start."""

from __future__ import annotations

import copy

import pytest
import torch
from tests.training.test_methods import _tiny_data, _tiny_two_label, _train

from analora import load_hardware, program
from analora.adapters import AdapterError, load_adapter
from analora.errors import ChipError
from analora.training import TrainConfig


def test_with_periphery_keeps_the_programmed_state(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    chip = program(model, load_hardware("paper-pcm"), seed=3, exclude=["classifier"])
    state_fp, chip_fp = chip.state_fingerprint(), chip.fingerprint()
    with torch.no_grad(), chip.reading(86400.0):
        eight = model(input_ids=ids).logits
    six_bit = load_hardware("paper-pcm-6bit")
    chip6 = chip.with_periphery(six_bit)
    assert chip6.state_fingerprint() == state_fp and chip.state_fingerprint() == state_fp
    assert chip6.fingerprint() != chip_fp  # another hardware config
    assert all(layer.hardware is six_bit for _, layer in chip6.layers())
    with torch.no_grad(), chip6.reading(86400.0):
        six = model(input_ids=ids).logits
    assert not torch.equal(six, eight)
    # Back to 8 bits: the same outputs as before, bit for bit.
    chip8 = chip6.with_periphery(load_hardware("paper-pcm"))
    with torch.no_grad(), chip8.reading(86400.0):
        assert torch.equal(model(input_ids=ids).logits, eight)
    # What defines the programmed state may not change.
    for change in ({"mapping.clip_sigma": 2.5}, {"tile.max_inputs": 256}):
        with pytest.raises(ChipError, match="cannot change"):
            chip.with_periphery(load_hardware("paper-pcm", change))
    # Output noise and the ADC bound may.
    chip.with_periphery(load_hardware("paper-pcm", {"periphery.output_noise_std": 0.08}))
    chip.with_periphery(load_hardware("paper-pcm", {"converters.output_bound": 6.0}))
    assert chip.state_fingerprint() == state_fp


def test_warm_started_readaptation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, seed=1)
    eight = _train(
        "ahwa-lora",
        _tiny_two_label(),
        "sst2",
        _tiny_data(24, 0),
        _tiny_data(16, 1),
        load_hardware("paper-pcm"),
        cfg,
        tmp_path / "eight",
    )
    six_bit = load_hardware("paper-pcm-6bit")
    # The 8-bit adapter is refused on a 6-bit model...
    model = _tiny_two_label()
    program(model, six_bit, seed=0, exclude=["classifier"])
    with pytest.raises(AdapterError, match="hardware"):
        load_adapter(model, eight.artefact)
    # ...but warm-starts its re-adaptation: the old weights, loaded as they are.
    from analora.adapters import add_lora
    from analora.training.methods import warm_start

    model = _tiny_two_label()
    program(model, six_bit, seed=0, exclude=["classifier"])
    start = add_lora(model, head=["classifier"])
    record = warm_start(start, tmp_path / "eight")  # a run directory works too
    assert record["hardware"] == "paper-pcm"
    old = dict(eight.model.named_parameters())
    for name, p in start.named_parameters():
        if ".lora_" in name or "modules_to_save" in name:
            assert torch.equal(p, old[name]), name
    again = _train(
        "ahwa-lora",
        _tiny_two_label(),
        "sst2",
        _tiny_data(24, 0),
        _tiny_data(16, 1),
        six_bit,
        cfg,
        tmp_path / "six",
        init_adapter=eight.artefact,
    )
    record = (tmp_path / "six" / "deployment.json").read_text()
    assert '"hardware": "paper-pcm"' in record and "init_adapter" in record
    model = _tiny_two_label()
    program(model, six_bit, seed=0, exclude=["classifier"])
    load_adapter(model, again.artefact)  # bound to the new constraints
    # Another layout is refused with one line.
    with pytest.raises(AdapterError, match="another layout"):
        from analora.training.methods import LoraSettings

        _train(
            "ahwa-lora",
            _tiny_two_label(),
            "sst2",
            _tiny_data(24, 0),
            _tiny_data(16, 1),
            six_bit,
            cfg,
            tmp_path / "r4",
            lora=LoraSettings(r=4),
            init_adapter=eight.artefact,
        )


def test_recovery_share() -> None:
    from analora.studies.readapt import recovery

    # 10 y in the paper (SQuAD F1): 85.36 -> 60.81 at 6 bits -> 74.23 retrained.
    assert recovery(85.36, 60.81, 74.23) == pytest.approx((74.23 - 60.81) / (85.36 - 60.81))
    assert recovery(85.36, 60.81, 74.23) == pytest.approx(0.5466, abs=1e-4)
    assert recovery(76.0, 75.8, 76.2) is None  # 0.2 points lost: noise, not reported
    assert recovery(70.0, 60.0, 55.0) == pytest.approx(-0.5)  # retraining can lose more


def test_ahwa_lora_warm_starts_from_a_digital_lora_adapter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A ``digital-lora`` adapter is bound to its model by the fingerprint the
    model's conversion gets, to no hardware: an analog method warm-starts from
    it, loading it onto analog hardware as it is is refused."""
    from analora.adapters import add_lora, read_adapter_meta
    from analora.analog.convert import conversion_report
    from analora.training.methods import warm_start

    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, seed=1)
    data = (_tiny_data(24, 0), _tiny_data(16, 1))
    digital = _train("digital-lora", _tiny_two_label(), "sst2", *data, None, cfg, tmp_path / "d")
    meta = read_adapter_meta(digital.artefact)
    assert meta["hardware"] is None and meta["method"] == "digital-lora"
    model = _tiny_two_label()
    program(model, load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
    report = conversion_report(model)
    assert report is not None and meta["model_fingerprint"] == report.model_fingerprint
    with pytest.raises(AdapterError, match="digital model"):
        load_adapter(model, digital.artefact)
    start = add_lora(model, head=["classifier"])
    assert warm_start(start, tmp_path / "d")["hardware"] is None
    old = dict(digital.model.named_parameters())
    loaded = [n for n, _ in start.named_parameters() if ".lora_" in n or "modules_to_save" in n]
    assert loaded
    for name, p in start.named_parameters():
        if name in loaded:
            assert torch.equal(p, old[name]), name
    # Another model's digital adapter is refused.
    other = _tiny_two_label()
    with torch.no_grad():
        other.bert.encoder.layer[0].output.dense.weight.mul_(1.5)
    program(other, load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
    with pytest.raises(AdapterError, match="another base model"):
        warm_start(add_lora(other, head=["classifier"]), tmp_path / "d")
