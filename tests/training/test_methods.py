"""Adapter methods end to end on real data: SST-2 with the packaged MiniLM."""

import copy
from pathlib import Path

import pytest
import torch

from analora import load_hardware
from analora.adapters import read_adapter_meta
from analora.training import TrainConfig
from analora.training.methods import (
    LoraSettings,
    classification_tensors,
    evaluate_classification,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _train(method, model, task, train, dev, hardware, config, out, **kw):  # type: ignore[no-untyped-def]
    """One method run through the registry (the library's MethodJob)."""
    from pathlib import Path

    from analora.training.methods import MethodJob, run_method

    job = MethodJob(
        method=method, model=model, task=task, train_data=train, eval_data=dev,
        hardware=hardware, config=config, out=Path(out), **kw,
    )  # fmt: skip
    return run_method(job)


@pytest.fixture(scope="module")
def sst2(minilm_dir):  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    from transformers import AutoTokenizer

    from analora.tasks import limit_splits, load_task, tokenize_split

    task = load_task("sst2", data_dir=DATA)
    splits = limit_splits(task.spec, task.splits, max_train=256, max_eval=200, seed=0)
    tok = AutoTokenizer.from_pretrained(str(minilm_dir))
    out = {}
    for split in ("train", "validation"):
        ds = tokenize_split(tok, "sst2", splits[split], split, max_length=32, use_cache=False)
        out[split] = classification_tensors(ds.dataset)
    return out


@pytest.fixture(scope="module")
def base(minilm_dir):  # type: ignore[no-untyped-def]
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(str(minilm_dir), num_labels=2)


def test_ahwa_lora_beats_the_majority_class(sst2, base, tmp_path) -> None:  # type: ignore[no-untyped-def]
    labels = sst2["validation"]["labels"]
    majority = 100.0 * max(labels.float().mean().item(), 1 - labels.float().mean().item())
    cfg = TrainConfig(epochs=3, batch_size=16, lr=2e-3, seed=0, primary_metric="accuracy")
    torch.manual_seed(0)
    result = _train(
        "ahwa-lora",
        copy.deepcopy(base),
        "sst2",
        sst2["train"],
        sst2["validation"],
        load_hardware("paper-pcm"),
        cfg,
        tmp_path / "run",
        lora=LoraSettings(),
    )
    print(f"ahwa-lora SST-2 accuracy {result.metrics['accuracy']:.1f} vs majority {majority:.1f}")
    assert result.metrics["accuracy"] > majority + 10, (result.metrics, majority)
    meta = read_adapter_meta(result.artefact)
    assert meta["method"] == "ahwa-lora" and meta["task"] == "sst2"
    assert meta["metrics"]["accuracy"] == result.metrics["accuracy"]
    # The chip itself: fingerprint unchanged by training, metrics repeatable.
    assert result.chip is not None
    again = evaluate_classification(result.chip.read(0.0).model, "sst2", sst2["validation"])
    assert again == result.metrics


def _tiny_two_label():  # type: ignore[no-untyped-def]
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        num_labels=2,
    )
    return BertForSequenceClassification(cfg)


def _tiny_data(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 120, (n, 10), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[:, 0] % 2}


@pytest.mark.parametrize("method", ["digital-lora", "chip-lora"])
def test_other_adapter_methods_run_and_save(method: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, seed=1)
    result = _train(
        method,
        _tiny_two_label(),
        "sst2",
        _tiny_data(24, 0),
        _tiny_data(16, 1),
        load_hardware("paper-pcm"),
        cfg,
        tmp_path / method,
        chip_age_s=3600.0,
    )
    assert "accuracy" in result.metrics
    assert (result.artefact / "adapter_model.safetensors").is_file()
    if method == "chip-lora":
        assert result.chip is not None
        meta = read_adapter_meta(result.artefact)
        assert meta["chip_fingerprint"] == result.chip.fingerprint()
    else:
        assert result.chip is None
    # A sweep of a chip-bound adapter reads its chip with fresh read noise by
    # default, not the read (index 0) it trained on.
    from analora.sweep.runner import BOUND_READ_INDEX, default_read_index

    assert result.artefact.name == "adapter" and BOUND_READ_INDEX != 0
    expected = BOUND_READ_INDEX if method == "chip-lora" else 0
    assert default_read_index(result.artefact.parent) == expected


def test_unknown_method(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import AnaloraError

    with pytest.raises(AnaloraError, match="did you mean 'ahwa-lora'"):
        _train(
            "ahwa-lorra",
            _tiny_two_label(),
            "sst2",
            _tiny_data(8, 0),
            _tiny_data(8, 1),
            load_hardware("paper-pcm"),
            TrainConfig(),
            tmp_path,
        )


def test_ahwa_lora_equals_digital_lora_under_ideal_hardware(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import load_file

    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, seed=3)
    lora = LoraSettings(dropout=0.0)  # dropout draws differ between the two graphs
    results = {}
    for method in ("digital-lora", "ahwa-lora"):
        results[method] = _train(
            method,
            _tiny_two_label(),
            "sst2",
            _tiny_data(24, 0),
            _tiny_data(16, 1),
            load_hardware("ideal"),
            cfg,
            tmp_path / method,
            lora=lora,
        )
    digital, analog = results["digital-lora"], results["ahwa-lora"]
    assert digital.train is not None and analog.train is not None
    assert analog.train.losses == pytest.approx(digital.train.losses, rel=1e-4)
    wd = load_file(str(digital.artefact / "adapter_model.safetensors"))
    wa = load_file(str(analog.artefact / "adapter_model.safetensors"))
    assert set(wd) == set(wa) and len(wd) > 2
    for key in wd:
        assert torch.allclose(wd[key], wa[key], atol=1e-5), key


def test_digital_then_direct_then_ahwa(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import BertForSequenceClassification

    from analora.analog import analog_layers, load_analog_model, program
    from analora.training.deployment import read_deployment

    hw = load_hardware("paper-pcm")
    train, dev = _tiny_data(32, 0), _tiny_data(16, 1)
    # digital: every weight trains; the model is saved for deployment.
    model = _tiny_two_label()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-3, seed=0)
    digital = _train("digital", model, "sst2", train, dev, None, cfg, tmp_path / "digital")
    changed = [n for n, p in digital.model.named_parameters() if not torch.equal(p, start[n])]
    assert len(changed) == len(start)
    assert read_deployment(tmp_path / "digital")["kind"] == "digital"
    # direct: the digital result programmed as it is.
    tuned = BertForSequenceClassification.from_pretrained(str(digital.artefact))
    direct = _train("direct", tuned, "sst2", None, dev, hw, None, tmp_path / "direct", chip_seed=2)
    assert direct.chip is not None and direct.chip.seed == 2
    record = read_deployment(tmp_path / "direct")
    assert record["kind"] == "model" and record["eval"]["metrics"] == direct.metrics
    # ahwa: the analog weights themselves train, are clipped and re-mapped.
    tuned = BertForSequenceClassification.from_pretrained(str(digital.artefact))
    cfg = TrainConfig(epochs=2, batch_size=8, lr=5e-3, seed=0)
    ahwa = _train("ahwa", tuned, "sst2", train, dev, hw, cfg, tmp_path / "ahwa")
    reference = BertForSequenceClassification.from_pretrained(str(digital.artefact))
    from analora.analog import convert

    convert(reference, hw, exclude=["classifier"])
    before = dict(analog_layers(reference))
    for name, layer in analog_layers(ahwa.model):
        assert not torch.equal(layer.tile_weight, before[name].tile_weight), name
        row_max = layer.tile_weight.abs().amax(-1)
        assert torch.allclose(row_max, torch.ones_like(row_max)), name  # re-mapped
        assert layer.out_scale is not None and not torch.equal(
            layer.out_scale, torch.ones_like(layer.out_scale)
        )  # learned
    # The saved analog model reloads bit-identical and programs the same chip.
    loaded = load_analog_model(ahwa.artefact)
    chip_a = program(ahwa.model, seed=5)
    chip_b = program(loaded, seed=5)
    assert chip_a.fingerprint() == chip_b.fingerprint()
    with chip_a.reading(3600.0), chip_b.reading(3600.0):
        ids = dev["input_ids"][:4]
        assert torch.equal(ahwa.model(input_ids=ids).logits, loaded(input_ids=ids).logits)
    record = read_deployment(tmp_path / "ahwa")
    assert record["kind"] == "model" and record["model"]["format"] == "analog"


def test_devices_are_checked_not_refused_by_method() -> None:
    import torch

    from analora.errors import AnaloraError
    from analora.training.registry import get_method
    from analora.workflows.runtime import pick_device

    assert pick_device("cpu", get_method("ahwa-lora")) == "cpu"  # analog methods on any device
    if not torch.cuda.is_available():
        assert pick_device("auto", get_method("ahwa-lora")) == "cpu"
        with pytest.raises(AnaloraError, match="no CUDA device is visible here; use --device cpu"):
            pick_device("cuda", get_method("ahwa-lora"))
    with pytest.raises(AnaloraError, match="is not a device"):
        pick_device("gpu0")
