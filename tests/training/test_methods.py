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
    train_adapter,
)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


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
    result = train_adapter(
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
    meta = read_adapter_meta(result.adapter_dir)
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
    result = train_adapter(
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
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    if method == "chip-lora":
        assert result.chip is not None
        meta = read_adapter_meta(result.adapter_dir)
        assert meta["chip_fingerprint"] == result.chip.fingerprint()
    else:
        assert result.chip is None


def test_unknown_method(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import AnaloraError

    with pytest.raises(AnaloraError, match="did you mean 'ahwa-lora'"):
        train_adapter(
            "ahwa-lorra",
            _tiny_two_label(),
            "sst2",
            _tiny_data(8, 0),
            _tiny_data(8, 1),
            load_hardware("paper-pcm"),
            TrainConfig(),
            tmp_path,
        )
