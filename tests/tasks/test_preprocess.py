"""Tokenising GLUE splits: shapes, truncation, padding, and the on-disk cache."""

from __future__ import annotations

from pathlib import Path

import pytest

import analora.tasks.preprocess as preprocess
from analora.tasks.preprocess import tokenize_split
from analora.tasks.sources import load_task
from analora.tasks.subsets import stratified_subset


@pytest.fixture(scope="module")
def rte_dev(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_task("rte", ["validation"], data_dir=data_dir).splits["validation"]


def test_pairs_padded_and_truncated(tokenizer, rte_dev, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sub = rte_dev.select(range(16))
    out = tokenize_split(tokenizer, "rte", sub, "validation", 64, cache_dir=tmp_path).dataset
    assert set(out.column_names) >= {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "labels",
        "idx",
    }
    assert all(len(ids) == 64 for ids in out["input_ids"])
    assert out["labels"] == sub["label"]
    # RTE premises are long: at length 64 some pairs must be cut, and both segments survive
    assert any(sum(m) == 64 for m in out["attention_mask"])
    row = out[0]
    assert row["input_ids"][0] == tokenizer.cls_token_id and 1 in row["token_type_ids"]


def test_single_sentence_and_regression(tokenizer, data_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sst2 = (
        load_task("sst2", ["validation"], data_dir=data_dir).splits["validation"].select(range(8))
    )
    out = tokenize_split(tokenizer, "sst2", sst2, "validation", cache_dir=tmp_path).dataset
    assert len(out[0]["input_ids"]) == 128  # the task's default length
    assert set(out[0]["token_type_ids"]) == {0}  # one segment
    stsb = (
        load_task("stsb", ["validation"], data_dir=data_dir).splits["validation"].select(range(8))
    )
    out = tokenize_split(tokenizer, "stsb", stsb, "validation", 32, cache_dir=tmp_path).dataset
    assert out["labels"] == pytest.approx(stsb["label"])


def test_second_run_hits_the_cache(tokenizer, rte_dev, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    real = preprocess._encode_batch

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(preprocess, "_encode_batch", counting)
    sub = stratified_subset(rte_dev, 20, seed=0)
    first = tokenize_split(tokenizer, "rte", sub, "validation", 32, cache_dir=tmp_path)
    assert not first.from_cache and calls and first.cache_path is not None
    n_calls = len(calls)
    second = tokenize_split(tokenizer, "rte", sub, "validation", 32, cache_dir=tmp_path)
    assert second.from_cache and len(calls) == n_calls  # no tokenising
    assert second.cache_path == first.cache_path
    assert second.dataset["input_ids"] == first.dataset["input_ids"]
    # Another length, another subset, or another split name is another entry.
    assert not tokenize_split(
        tokenizer, "rte", sub, "validation", 48, cache_dir=tmp_path
    ).from_cache
    other = stratified_subset(rte_dev, 20, seed=1)
    assert not tokenize_split(
        tokenizer, "rte", other, "validation", 32, cache_dir=tmp_path
    ).from_cache
    assert not tokenize_split(tokenizer, "rte", sub, "train", 32, cache_dir=tmp_path).from_cache
    # no temporary directories left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_cache_dir_from_environment(tokenizer, rte_dev, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path / "env-cache"))
    got = tokenize_split(tokenizer, "rte", rte_dev.select(range(4)), "validation", 16)
    assert got.cache_path is not None and got.cache_path.parent == tmp_path / "env-cache"


def test_length_over_model_max(tokenizer, rte_dev) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import DataError

    with pytest.raises(DataError, match="--max-length"):
        tokenize_split(tokenizer, "rte", rte_dev, "validation", 100_000, use_cache=False)
