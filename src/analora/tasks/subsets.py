"""Seeded subsets of a split (``--max-train-examples``, ``--max-eval-examples``).

Classification splits are sampled per class, so the subset keeps the label
proportions: class ``c`` with ``n_c`` of ``N`` rows gets ``floor(n * n_c / N)``
rows, and the rows left over go to the classes with the largest remainders
(Hamilton's largest-remainder method; ties broken by the label's text).
Regression and SQuAD splits are sampled uniformly; SQuAD rows are questions,
so sampling happens before windows are cut and a question keeps all its windows.

Each class's draw uses its own seed ``derive_seed("subset", seed, label)``, so
the bits depend only on the seed, the label and the class's rows. The kept rows
stay in their original order.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import torch
from datasets import Dataset, DatasetDict

from analora.errors import DataError
from analora.seeds import generator
from analora.tasks.registry import TaskSpec

logger = logging.getLogger(__name__)


def _allocate(counts: dict[object, int], n: int) -> dict[object, int]:
    total = sum(counts.values())
    quotas = {k: n * c / total for k, c in counts.items()}
    alloc = {k: int(q) for k, q in quotas.items()}
    left = n - sum(alloc.values())
    by_remainder = sorted(counts, key=lambda k: (-(quotas[k] - alloc[k]), str(k)))
    for k in by_remainder[:left]:
        alloc[k] += 1
    return alloc


def _draw(indices: list[int], k: int, *parts: object) -> list[int]:
    perm = torch.randperm(len(indices), generator=generator("subset", *parts)).tolist()
    return [indices[i] for i in perm[:k]]


def stratified_subset(
    dataset: Dataset, n: int | None, seed: int, label_column: str | None = "label"
) -> Dataset:
    """At most ``n`` rows, keeping label proportions when ``label_column`` is given.

    ``n=None`` or ``n >= len(dataset)`` returns the dataset unchanged.
    """
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise DataError(f"--max-*-examples must be positive, got {n}")
    if label_column is None:
        keep = _draw(list(range(len(dataset))), n, seed, "all")
    else:
        if label_column not in dataset.column_names:
            raise DataError(
                f"cannot stratify on {label_column!r}: the split has {dataset.column_names}"
            )
        by_label: dict[object, list[int]] = defaultdict(list)
        for i, label in enumerate(dataset[label_column][:]):
            by_label[label].append(i)
        counts = {k: len(v) for k, v in by_label.items()}
        alloc = _allocate(counts, n)
        keep = [i for k, rows in by_label.items() for i in _draw(rows, alloc[k], seed, repr(k))]
    logger.info("subset of %d of %d rows (seed %d)", n, len(dataset), seed)
    return dataset.select(sorted(keep))


def limit_splits(
    spec: TaskSpec,
    splits: DatasetDict,
    max_train: int | None = None,
    max_eval: int | None = None,
    seed: int = 0,
) -> DatasetDict:
    """Apply ``--max-train-examples`` to ``train`` and ``--max-eval-examples`` to the others."""
    label = "label" if spec.head == "sequence-classification" else None
    return DatasetDict(
        {
            name: stratified_subset(ds, max_train if name == "train" else max_eval, seed, label)
            for name, ds in splits.items()
        }
    )
