"""The chip lifecycle: programmed once, read at any age, saved and loaded."""

import copy
import json

import pytest
import torch

from analora.analog import convert, load_chip, program, save_chip
from analora.errors import ChipError
from analora.hardware import load_hardware


@pytest.fixture
def chip(tiny_bert):  # type: ignore[no-untyped-def]
    return program(copy.deepcopy(tiny_bert), load_hardware("paper-pcm"), seed=7)


def test_reads_are_seeded_by_seed_age_and_index(chip, ids) -> None:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        a = chip.read(3600.0).model(input_ids=ids).logits
        b = chip.read(3600.0).model(input_ids=ids).logits
        c = chip.read(3600.0, read_index=1).model(input_ids=ids).logits
        d = chip.read(86400.0).model(input_ids=ids).logits
    assert torch.equal(a, b)
    assert not torch.equal(a, c) and not torch.equal(a, d)


def test_same_seed_same_chip_other_seed_other_chip(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    hw = load_hardware("paper-pcm")
    f1 = program(copy.deepcopy(tiny_bert), hw, seed=1).fingerprint()
    assert program(copy.deepcopy(tiny_bert), hw, seed=1).fingerprint() == f1
    assert program(copy.deepcopy(tiny_bert), hw, seed=2).fingerprint() != f1


def test_programmed_state_never_changes(chip, ids) -> None:  # type: ignore[no-untyped-def]
    before = chip.fingerprint()
    model = chip.model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for t in (0.0, 3600.0):
        chip.read(t)
        model(input_ids=ids).logits.sum().backward()
        opt.step()
    chip.use_target()
    model(input_ids=ids).logits.sum().backward()
    opt.step()
    assert chip.fingerprint() == before


def test_drift_lowers_raw_weights_and_gdc_compensates(chip) -> None:  # type: ignore[no-untyped-def]
    _, layer = chip.layers()[0]
    chip.read(0.0)
    w0 = layer.chip_weight.abs().mean().item()
    chip.read(10 * 365 * 86400.0)
    w10 = layer.chip_weight.abs().mean().item()
    assert w10 < 0.8 * w0
    assert layer.drift_scale.mean().item() == pytest.approx(w0 / w10, rel=0.1)


def test_save_load_round_trip_bit_identical(chip, tiny_bert, ids, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_chip(chip, tmp_path / "c")
    meta = json.loads((tmp_path / "c" / "chip.json").read_text())
    assert (
        meta["seed"] == 7
        and meta["hardware"]["name"] == "paper-pcm"
        and "torch" in meta["versions"]
    )
    loaded = load_chip(tmp_path / "c", copy.deepcopy(tiny_bert))
    assert loaded.fingerprint() == chip.fingerprint()
    with torch.no_grad():
        a = chip.read(86400.0, 2).model(input_ids=ids).logits
        b = loaded.read(86400.0, 2).model(input_ids=ids).logits
    assert torch.equal(a, b)


def test_save_refuses_existing_chip_unless_overwrite(chip, tmp_path) -> None:  # type: ignore[no-untyped-def]
    save_chip(chip, tmp_path / "c")
    with pytest.raises(ChipError, match="--overwrite"):
        save_chip(chip, tmp_path / "c")
    save_chip(chip, tmp_path / "c", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporary left


def test_load_refuses_other_model_tampered_and_truncated(chip, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = save_chip(chip, tmp_path / "c")
    other = copy.deepcopy(tiny_bert)
    with torch.no_grad():
        other.bert.encoder.layer[0].attention.self.query.weight.add_(0.01)
    with pytest.raises(ChipError, match="another model"):
        load_chip(d, other)
    converted = copy.deepcopy(tiny_bert)
    convert(converted, load_hardware("paper-pcm-6bit"))
    with pytest.raises(ChipError, match="hardware"):
        load_chip(d, converted)
    data = (d / "chip.safetensors").read_bytes()
    (d / "chip.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ChipError, match="checksum"):
        load_chip(d, copy.deepcopy(tiny_bert))
    tampered = bytearray(data)
    tampered[-5] ^= 0xFF
    (d / "chip.safetensors").write_bytes(bytes(tampered))
    with pytest.raises(ChipError, match="checksum"):
        load_chip(d, copy.deepcopy(tiny_bert))


def test_minilm_ideal_reproduces_digital_logits(minilm_dir) -> None:  # type: ignore[no-untyped-def]
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(str(minilm_dir), num_labels=2).eval()
    ids = torch.randint(1000, 20000, (2, 32), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(input_ids=ids).logits
        chip = program(model, load_hardware("ideal"), seed=0)
        out = chip.read(10 * 365 * 86400.0).model(input_ids=ids).logits
    assert (out - ref).abs().max().item() < 1e-4
    assert chip.report.tiles == 6 * (1 + 1 + 1 + 1 + 3 + 3) + 1 + 1


def test_many_chips_in_sequence_leave_nothing_behind(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    import gc
    import weakref

    from analora import load_hardware, program

    hw = load_hardware("paper-pcm")
    refs = []
    rss = []
    for seed in range(100):
        chip = program(tiny_bert, hw if seed == 0 else None, seed=seed)
        chip.read(3600.0)
        chip.use_target()
        refs.append(weakref.ref(chip))
        del chip
        gc.collect()
        with open("/proc/self/status", encoding="ascii") as f:
            rss.append(next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")))
    assert sum(r() is not None for r in refs) == 0  # no chip is kept alive
    assert rss[-1] - rss[9] < 20 * 1024, (rss[9], rss[-1])  # KiB: flat within noise
