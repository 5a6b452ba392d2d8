"""Seeded stratified subsets keep label proportions and are reproducible."""

from __future__ import annotations

from collections import Counter

from datasets import Dataset, DatasetDict

from analora.tasks.registry import get_task
from analora.tasks.subsets import limit_splits, stratified_subset


def _imbalanced() -> Dataset:
    # 70 of label 0, 20 of label 1, 10 of label 2
    labels = [0] * 70 + [1] * 20 + [2] * 10
    return Dataset.from_dict({"x": [str(i) for i in range(100)], "label": labels})


def test_proportions() -> None:
    sub = stratified_subset(_imbalanced(), 10, seed=0)
    # quotas 10*70/100 = 7, 10*20/100 = 2, 10*10/100 = 1: exact
    assert Counter(sub["label"]) == {0: 7, 1: 2, 2: 1}
    sub = stratified_subset(_imbalanced(), 15, seed=0)
    # quotas 10.5, 3, 1.5 -> floors 10, 3, 1 (14); one left goes to the largest
    # remainder, a tie of 0.5 between labels 0 and 2 broken by label text -> label 0
    assert Counter(sub["label"]) == {0: 11, 1: 3, 2: 1}


def test_determinism_and_order() -> None:
    a = stratified_subset(_imbalanced(), 10, seed=3)["x"]
    assert a == stratified_subset(_imbalanced(), 10, seed=3)["x"]
    assert a != stratified_subset(_imbalanced(), 10, seed=4)["x"]
    assert [int(v) for v in a] == sorted(int(v) for v in a)  # original order kept


def test_plain_sample_and_noop() -> None:
    ds = _imbalanced()
    assert len(stratified_subset(ds, 5, seed=0, label_column=None)) == 5
    assert stratified_subset(ds, None, seed=0) is ds
    assert stratified_subset(ds, 1000, seed=0) is ds


def test_limit_splits() -> None:
    ds = _imbalanced()
    splits = DatasetDict({"train": ds, "validation": ds})
    out = limit_splits(get_task("sst2"), splits, 20, 10, seed=0)
    assert (len(out["train"]), len(out["validation"])) == (20, 10)
