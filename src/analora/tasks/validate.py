"""Checks of every field of a task's rows against the task, before anything trains on them.

A row is refused, with the place it came from and the fix, when

- a text field (sentence, question, context) is empty or only white space;
- a class label is outside the task's label set (GLUE files: checked as read);
- an STS-B score is outside 0-5, the scale of the STS benchmark (Cer et al.,
  "SemEval-2017 Task 1: Semantic Textual Similarity", SemEval 2017, section 2);
- a SQuAD question has no answer (SQuAD v1.1 answers every question, Rajpurkar
  et al. 2016), or an answer's span ``answer_start .. answer_start+len(text)``
  is not inside its context or does not spell the answer's text;
- an id (SQuAD ``id``, GLUE ``idx``) repeats within a split.

The same checks run on local files (the place is ``file:line``) and on data
loaded from the Hub (the place is the Hub id, split and row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from datasets import Dataset

from analora.errors import DataError
from analora.tasks.registry import TaskSpec

STSB_SCORE_RANGE = (0.0, 5.0)
"""STS-B's similarity scale (Cer et al. 2017): 0 (unrelated) to 5 (equivalent)."""

FIX_FILE = "correct or remove the row, or re-download the file"


def text_problem(column: str, value: object) -> str | None:
    """Why a text field is unusable, or None."""
    if not isinstance(value, str) or not value.strip():
        return f"an empty {column!r}"
    return None


def score_problem(spec: TaskSpec, value: float) -> str | None:
    """Why a regression target is unusable for its task, or None."""
    if not math.isfinite(value):
        return f"score {value!r}, not a finite number"
    lo, hi = STSB_SCORE_RANGE
    if spec.name == "stsb" and not lo <= value <= hi:
        return f"score {value!r}, outside STS-B's range {lo:g}-{hi:g}"
    return None


def answer_problem(context: str, text: str, start: int) -> str | None:
    """Why a SQuAD answer does not sit in its context, or None."""
    if not text.strip():
        return "an answer with empty text"
    if start < 0 or start + len(text) > len(context):
        return (
            f"answer_start {start} for {text[:40]!r}, outside its context "
            f"({len(context)} characters)"
        )
    found = context[start : start + len(text)]
    if found != text:
        return f"answer {text[:40]!r} at answer_start {start}, where the context reads {found!r}"
    return None


def answers_problem(context: str, texts: Sequence[str], starts: Sequence[int]) -> str | None:
    """Why a SQuAD question's answers are unusable, or None."""
    if not texts:
        return "a question without answers (SQuAD v1.1 answers every question)"
    if len(texts) != len(starts):
        return f"{len(texts)} answer texts but {len(starts)} answer_start values"
    for text, start in zip(texts, starts, strict=True):
        problem = answer_problem(context, text, start)
        if problem:
            return problem
    return None


def row_problem(spec: TaskSpec, row: dict[str, object]) -> str | None:
    """Why one normalised row (Hub schema) is unusable for its task, or None."""
    for column in spec.text_columns:
        problem = text_problem(column, row.get(column))
        if problem:
            return problem
    if spec.head == "question-answering":
        answers = row["answers"]
        assert isinstance(answers, dict)
        return answers_problem(str(row["context"]), answers["text"], answers["answer_start"])
    label = row["label"]
    if spec.label_names is None:
        assert isinstance(label, float | int)
        return score_problem(spec, float(label))
    if not isinstance(label, int) or not 0 <= label < len(spec.label_names):
        return f"label {label!r}, expected one of 0..{len(spec.label_names) - 1}"
    return None


def validate_dataset(spec: TaskSpec, ds: Dataset, where: Callable[[int], str], fix: str) -> None:
    """Raise :class:`DataError` ``"<where(i)> has <problem>: <fix>"`` at the
    first unusable row of a normalised split, or on a repeated id."""
    id_column = "id" if spec.head == "question-answering" else "idx"
    seen: dict[object, int] = {}
    for i, row in enumerate(_rows(ds)):
        problem = row_problem(spec, row)
        if problem is None and id_column in row:
            key = row[id_column]
            if key in seen:
                problem = f"{id_column} {key!r} again (first at {where(seen[key])})"
            seen[key] = i
        if problem:
            raise DataError(f"{where(i)} has {problem}: {fix}")


def _rows(ds: Dataset, batch_size: int = 4096) -> Iterator[dict[str, Any]]:
    """The rows of a dataset, read a batch of columns at a time (much faster
    than indexing row by row)."""
    for batch in ds.iter(batch_size=batch_size):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns), strict=True):
            yield dict(zip(columns, values, strict=True))
