"""Task metrics and the GLUE score, all on a 0-100 scale.

Every metric here is reported in percent-like units: accuracy and F1 as
percentages, Matthews/Pearson/Spearman correlations multiplied by 100, SQuAD
exact match and F1 as percentages (as the official SQuAD script prints them).
One scale keeps the GLUE average meaningful and matches the GLUE leaderboard.

- CoLA: Matthews correlation (``sklearn.metrics.matthews_corrcoef``).
- SST-2, MNLI, QNLI, RTE, WNLI: accuracy (``sklearn.metrics.accuracy_score``).
- MRPC, QQP: F1 of the positive class (label 1) and accuracy (``f1_score``).
- STS-B: Pearson and Spearman correlation (``scipy.stats``).
- SQuAD: exact match and token F1 after the official answer normalisation,
  maximised over the gold answers. These are written here by hand because no
  maintained library computes them offline: HF ``evaluate`` downloads the
  script from the Hub at run time, and torchmetrics' ``SQuAD`` is not a
  dependency of this project. The normalisation follows the description in the
  official ``evaluate-v1.1.py`` (lower-case, drop punctuation, drop the
  articles a/an/the, collapse whitespace), reimplemented here.

GLUE score (Wang et al., ICLR 2019): a task with two metrics scores
their unweighted mean (MRPC, QQP: F1 and accuracy; STS-B: Pearson and
Spearman); the benchmark score is the unweighted mean over tasks. MNLI-m and
MNLI-mm count as two separate entries, as on the GLUE leaderboard (BERT's
reported average, Devlin et al. 2019 table 1, is only reproduced that way).
"""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analora.errors import AnaloraError
from analora.tasks.registry import GLUE_TASKS, TaskSpec, get_task

logger = logging.getLogger(__name__)


class MetricError(AnaloraError, ValueError):
    """Predictions or results that cannot be scored (wrong shape, names, or tasks)."""


# The GLUE score's entries: the nine tasks with MNLI as two (matched, mismatched).
GLUE_ENTRIES: tuple[str, ...] = tuple(
    e for t in GLUE_TASKS for e in (("mnli-m", "mnli-mm") if t == "mnli" else (t,))
)


def glue_entry(task: str, split: str) -> str:
    """The GLUE-score entry of a task's evaluation split (``mnli-m``, ``mnli-mm``, or the task)."""
    if task == "mnli":
        return {"validation_matched": "mnli-m", "validation_mismatched": "mnli-mm"}[split]
    return task


def _labels(predictions: ArrayLike, regression: bool) -> np.ndarray:
    arr = np.asarray(predictions)
    if regression:
        # logits of a 1-output regression head come as [N, 1]
        return arr.reshape(-1).astype(np.float64) if arr.ndim <= 2 else arr
    # class logits [N, C] -> class ids [N]
    return arr.argmax(axis=-1) if arr.ndim == 2 else arr


def compute_metrics(
    task: str | TaskSpec, predictions: ArrayLike, references: ArrayLike
) -> dict[str, float]:
    """A GLUE task's metrics (0-100) from class ids or logits [N, C] (scores for STS-B)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    spec = get_task(task)
    if spec.head == "question-answering":
        raise MetricError(f"{spec.name} is scored with squad_metrics, not compute_metrics")
    pred = _labels(predictions, spec.head == "regression")
    ref = np.asarray(references)
    if pred.shape != ref.shape or pred.ndim != 1 or len(ref) == 0:
        raise MetricError(
            f"{spec.name}: predictions of shape {np.shape(predictions)} do not match "
            f"references of shape {ref.shape}"
        )
    out: dict[str, float] = {}
    for name in spec.metrics:
        if name == "accuracy":
            value = accuracy_score(ref, pred)
        elif name == "f1":
            value = f1_score(ref, pred, pos_label=1, average="binary", zero_division=0.0)
        elif name == "matthews_correlation":
            value = matthews_corrcoef(ref, pred)
        elif name == "pearson":
            value = pearsonr(pred, ref)[0]
        elif name == "spearman":
            value = spearmanr(pred, ref)[0]
        else:  # pragma: no cover - the registry only names the metrics above
            raise AssertionError(name)
        out[name] = 100.0 * float(value)
    return out


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_exact(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def squad_f1(prediction: str, gold: str) -> float:
    """Token-level F1 of the normalised strings (bag of tokens; 0 when nothing overlaps).

    As in v1.1's script, two empty answers score 0 (v2.0 changed that to 1).
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """Exact match and F1 (0-100), each the best over a question's gold answers.

    ``references`` maps question id to its gold answer texts. A question with no
    prediction scores 0 (as the official script does) and is logged.
    """
    if not references:
        raise MetricError("squad_metrics needs at least one reference question")
    em = f1 = 0.0
    unanswered = 0
    for qid, golds in references.items():
        if qid not in predictions:
            unanswered += 1
            continue
        if not golds:
            raise MetricError(f"question {qid!r} has no gold answer")
        pred = predictions[qid]
        em += max(squad_exact(pred, g) for g in golds)
        f1 += max(squad_f1(pred, g) for g in golds)
    if unanswered:
        logger.warning(
            "%d of %d questions have no prediction (scored 0)", unanswered, len(references)
        )
    n = len(references)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


@dataclass(frozen=True)
class GlueScore:
    """The GLUE average and what went into it."""

    score: float
    per_entry: Mapping[str, float]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def glue_score(
    results: Mapping[str, Mapping[str, float]], entries: Sequence[str] = GLUE_ENTRIES
) -> GlueScore:
    """The GLUE paper's macro average over ``entries`` (0-100 inputs and output).

    ``results`` maps an entry (``cola``, ..., ``mnli-m``, ``mnli-mm``) to that
    task's metric dict as returned by :func:`compute_metrics`. Entries absent from
    ``results`` are listed in ``missing`` (and logged), never silently dropped;
    the score is then the average of those present.
    """
    unknown = [k for k in results if k not in GLUE_ENTRIES]
    if unknown:
        raise MetricError(
            f"unknown GLUE entries {', '.join(unknown)}: use {', '.join(GLUE_ENTRIES)}"
        )
    per_entry: dict[str, float] = {}
    for entry in entries:
        if entry not in results:
            continue
        spec = get_task("mnli" if entry.startswith("mnli") else entry)
        got = results[entry]
        lacking = [m for m in spec.metrics if m not in got]
        if lacking:
            raise MetricError(f"GLUE entry {entry!r} lacks metric(s) {', '.join(lacking)}")
        per_entry[entry] = sum(float(got[m]) for m in spec.metrics) / len(spec.metrics)
    missing = tuple(e for e in entries if e not in results)
    if not per_entry:
        raise MetricError(f"no GLUE results to average: expected some of {', '.join(entries)}")
    if missing:
        logger.warning(
            "GLUE score over %d entries; missing: %s", len(per_entry), ", ".join(missing)
        )
    return GlueScore(sum(per_entry.values()) / len(per_entry), per_entry, missing)
