"""Tokenising task splits for a model: sentences, sentence pairs and SQuAD windows.

GLUE rows are tokenised in batches (``Dataset.map(batched=True)``), as one
sentence or a sentence pair, truncated (longest sequence first) and padded to
``max_length``. Static padding gives every batch the same shape, which the
analog tiles and cached datasets both like; it costs some compute on short
sentences. The output columns are the tokenizer's (``input_ids``,
``attention_mask``, ``token_type_ids`` where the model uses them), ``labels``
(int class ids, float for STS-B) and ``idx``.

SQuAD splits become windows (see :mod:`analora.tasks.qa`): the ``train`` split
gets training features, the others evaluation features.

Results are cached on disk (:mod:`analora.tasks.cache`), so a second run with
the same tokenizer, task, split, length and rows does no tokenising.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

import analora.tasks.qa as qa
from analora.errors import DataError
from analora.tasks.cache import cached_dataset, rows_fingerprint, tokenizer_fingerprint
from analora.tasks.registry import TaskSpec, get_task

logger = logging.getLogger(__name__)

MIN_TEXT_TOKENS = 4
"""The fewest tokens of each sentence a window must keep (besides the special
tokens); shorter windows are refused as a mistyped --max-length."""


@dataclass(frozen=True)
class Tokenized:
    """A tokenised split, and whether it came from the on-disk cache."""

    dataset: Dataset
    from_cache: bool
    cache_path: Path | None


def _encode_batch(
    batch: dict[str, list[Any]], tokenizer: Any, columns: tuple[str, ...], max_length: int
) -> Any:
    texts = [batch[c] for c in columns]
    return tokenizer(*texts, truncation=True, padding="max_length", max_length=max_length)


def _features(
    tokenizer: Any, spec: TaskSpec, dataset: Dataset, kind: str, max_length: int, stride: int
) -> dict[str, Any]:
    if kind == "classification":
        return dict(
            function=lambda b: _encode_batch(b, tokenizer, spec.text_columns, max_length),
            remove_columns=list(spec.text_columns),
        )
    fn = qa.train_features if kind == "qa-train" else qa.eval_features
    return dict(
        function=lambda b: fn(b, tokenizer, max_length, stride),
        remove_columns=dataset.column_names,
    )


def tokenize_split(
    tokenizer: Any,
    task: str | TaskSpec,
    dataset: Dataset,
    split: str,
    max_length: int | None = None,
    *,
    doc_stride: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    batch_size: int = 1000,
) -> Tokenized:
    """Tokenise one split of a task (max length defaults to the task's: 128 GLUE, 384 SQuAD).

    ``split`` names the split for the cache key and, for SQuAD, picks training
    features (``train``) or evaluation features (any other split).
    """
    spec = get_task(task)
    max_length = max_length or spec.max_length
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and max_length > model_max:
        raise DataError(
            f"max_length={max_length} exceeds the tokenizer's model_max_length={model_max}: "
            "lower --max-length"
        )
    if len(dataset) == 0:
        raise DataError(f"{spec.name} split {split!r} is empty: nothing to tokenise")
    if spec.head != "question-answering":
        columns = len(spec.text_columns)
        least = tokenizer.num_special_tokens_to_add(pair=columns == 2) + MIN_TEXT_TOKENS * columns
        if max_length < least:
            raise DataError(
                f"max_length={max_length} leaves less than {MIN_TEXT_TOKENS} tokens for each "
                f"text of {spec.name}: pass --max-length {least} or more"
            )
    if spec.head == "question-answering":
        kind = "qa-train" if split == "train" else "qa-eval"
        stride = doc_stride if doc_stride is not None else (spec.doc_stride or 128)
        data_columns = ["id", "question", "context", "answers"]
    else:
        kind, stride = "classification", 0
        data_columns = [*spec.text_columns, "label"]
    parts = {
        "tokenizer": str(getattr(tokenizer, "name_or_path", "")),
        "tokenizer_hash": tokenizer_fingerprint(tokenizer),
        "task": spec.name,
        "split": split,
        "kind": kind,
        "max_length": max_length,
        "doc_stride": stride,
        "rows": rows_fingerprint(dataset, data_columns),
    }

    def build() -> Dataset:
        logger.info(
            "tokenising %s/%s (%d rows, length %d)", spec.name, split, len(dataset), max_length
        )
        out = dataset.map(
            batched=True,
            batch_size=batch_size,
            keep_in_memory=True,
            load_from_cache_file=False,
            new_fingerprint=f"analora-{kind}-{max_length}-{stride}",
            **_features(tokenizer, spec, dataset, kind, max_length, stride),
        )
        if kind == "classification":
            out = out.rename_column("label", "labels")
        return out

    ds, hit, path = cached_dataset(parts, build, cache_dir, use_cache)
    return Tokenized(ds, hit, path)
