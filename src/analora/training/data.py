"""A task's training tensors and evaluator, as ``train`` and ``sweep`` build them.

Both commands must see the same examples: the subset (``limit_splits`` with
the run's seed), the length and the SQuAD window stride come from the run's
settings, and the tokenizer from the model directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from analora.tasks import TaskSpec, get_task, limit_splits, load_task, tokenize_split


@dataclass
class TaskInputs:
    spec: TaskSpec
    eval_split: str
    train: dict[str, Tensor] | None
    evaluation: Any
    """Classification tensors, or a :class:`~analora.training.methods.QAEvaluator`."""
    tokenizer: Any
    fingerprint: str = ""
    """SHA-256 of the examples used (every split, every column, in order)."""


def task_inputs(
    task: str,
    tokenizer_source: str,
    data_dir: str | Path | None = None,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    max_length: int | None = None,
    doc_stride: int | None = None,
    seed: int = 0,
    with_train: bool = True,
) -> TaskInputs:
    """Load, subset and tokenise a task (``tokenizer_source``: a local model
    directory or Hub id holding the tokenizer)."""
    from transformers import AutoTokenizer

    from analora.training.methods import QAEvaluator, classification_tensors, qa_train_tensors

    spec = get_task(task)
    eval_split = spec.eval_splits[0]
    wanted = ["train", eval_split] if with_train else [eval_split]
    data = load_task(spec.name, splits=wanted, data_dir=data_dir)
    splits = limit_splits(spec, data.splits, max_train_examples, max_eval_examples, seed=seed)
    fingerprint = data_fingerprint({s: splits[s] for s in wanted})
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    tokenized = {
        split: tokenize_split(
            tokenizer, spec, splits[split], split, max_length, doc_stride=doc_stride
        ).dataset
        for split in wanted
    }
    train: dict[str, Tensor] | None = None
    evaluation: Any
    if spec.head == "question-answering":
        if with_train:
            train = qa_train_tensors(tokenized["train"])
        evaluation = QAEvaluator(splits[eval_split], tokenized[eval_split])
    else:
        if with_train:
            train = classification_tensors(tokenized["train"])
        evaluation = classification_tensors(tokenized[eval_split])
    return TaskInputs(spec, eval_split, train, evaluation, tokenizer, fingerprint)


def data_fingerprint(splits: dict[str, Any]) -> str:
    """SHA-256 of the examples a run uses: each split's rows by content
    (:func:`analora.tasks.cache.rows_fingerprint`), so the same examples give
    the same fingerprint wherever their files lie."""
    import hashlib

    from analora.tasks.cache import rows_fingerprint

    digest = hashlib.sha256()
    for name in sorted(splits):
        ds = splits[name]
        digest.update(f"{name}\0{rows_fingerprint(ds, sorted(ds.column_names))}\n".encode())
    return digest.hexdigest()
