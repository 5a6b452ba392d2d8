"""SQuAD features (sliding windows over the context) and answer post-processing.

Training features: question and context are tokenised as a pair with
``truncation="only_second"``, so a long context is cut into windows of
``max_length`` tokens that overlap by ``doc_stride`` tokens
(``return_overflowing_tokens``). Each window gets the token positions of the
first gold answer's start and end; when the answer is not entirely inside the
window both point at the CLS token, the "no answer here" target of BERT's
``run_squad.py`` (Devlin et al. 2019).

Evaluation features keep, per token, its character span in the context
(``offset_mapping``; None for question, special and padding tokens) and the
``example_id`` of its question, so logits can be mapped back to text.

Post-processing: in every window, the ``n_best`` highest start logits are
paired with the ``n_best`` highest end logits; a pair is a candidate if both
tokens are in the context, end >= start, and it spans at most
``max_answer_length`` tokens. A candidate's score is its start logit plus its
end logit, and the answer is the best-scoring candidate over all windows of
the question (the maximum over windows, as in Hugging Face's ``run_qa``; the
same span seen in two windows is not added up). Defaults n_best = 20 and
max_answer_length = 30 are those of BERT's ``run_squad.py``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from datasets import Dataset
from numpy.typing import ArrayLike

from analora.errors import DataError

N_BEST = 20
MAX_ANSWER_LENGTH = 30


def _encode(batch: dict[str, list[Any]], tokenizer: Any, max_length: int, doc_stride: int) -> Any:
    if doc_stride >= max_length:
        raise DataError(
            f"doc_stride={doc_stride} must be smaller than max_length={max_length}: "
            "lower --doc-stride or raise --max-length"
        )
    # Some SQuAD questions start with runs of spaces that only waste window room.
    questions = [q.lstrip() for q in batch["question"]]
    _check_room(questions, batch.get("id"), tokenizer, max_length, doc_stride)
    return tokenizer(
        questions,
        batch["context"],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )


def _check_room(
    questions: list[str], ids: list[str] | None, tokenizer: Any, max_length: int, doc_stride: int
) -> None:
    """Refuse a window that cannot hold the longest question, its special
    tokens and more context than the stride (the tokenizer would abort)."""
    lengths = [len(ids_) for ids_ in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    room = max_length - specials - lengths[longest]
    if room <= doc_stride:
        which = f" (id {ids[longest]})" if ids else ""
        need = specials + lengths[longest] + doc_stride + 1
        raise DataError(
            f"max_length={max_length} leaves {room} context tokens per window beside the "
            f"longest question{which} ({lengths[longest]} tokens), not more than "
            f"doc_stride={doc_stride}: raise --max-length to {need} or more, or lower "
            "--doc-stride"
        )


def _context_range(sequence_ids: list[int | None]) -> tuple[int, int]:
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    return first, last


def train_features(
    batch: dict[str, list[Any]], tokenizer: Any, max_length: int, doc_stride: int
) -> dict[str, list[Any]]:
    """Windows of a batch of questions with ``start_positions``/``end_positions``."""
    enc = _encode(batch, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    all_offsets = enc.pop("offset_mapping")
    starts: list[int] = []
    ends: list[int] = []
    for i, offsets in enumerate(all_offsets):
        ids = enc["input_ids"][i]
        cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        answers = batch["answers"][sample_map[i]]
        if not answers["answer_start"]:
            starts.append(cls)
            ends.append(cls)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        first, last = _context_range(enc.sequence_ids(i))
        if offsets[first][0] > start_char or offsets[last][1] < end_char:
            starts.append(cls)
            ends.append(cls)
            continue
        s = first
        while s <= last and offsets[s][0] <= start_char:
            s += 1
        e = last
        while e >= first and offsets[e][1] >= end_char:
            e -= 1
        starts.append(s - 1)
        ends.append(e + 1)
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    return dict(enc)


def eval_features(
    batch: dict[str, list[Any]], tokenizer: Any, max_length: int, doc_stride: int
) -> dict[str, list[Any]]:
    """Windows of a batch of questions with ``example_id`` and context-only offsets."""
    enc = _encode(batch, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    offsets_out = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        seq = enc.sequence_ids(i)
        offsets_out.append([list(o) if seq[k] == 1 else None for k, o in enumerate(offsets)])
    enc["offset_mapping"] = offsets_out
    enc["example_id"] = [batch["id"][j] for j in sample_map]
    return dict(enc)


def postprocess(
    examples: Dataset,
    features: Dataset,
    start_logits: ArrayLike,
    end_logits: ArrayLike,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
) -> dict[str, str]:
    """Question id -> answer text, from per-window logits of shape [n_features, max_length].

    A question whose windows yield no valid span gets the empty answer.
    """
    start = np.asarray(start_logits, dtype=np.float64)
    end = np.asarray(end_logits, dtype=np.float64)
    if start.shape != end.shape or start.ndim != 2 or start.shape[0] != len(features):
        raise DataError(
            f"logits of shapes {start.shape} and {end.shape} do not match "
            f"{len(features)} features: pass [n_features, max_length] arrays"
        )
    windows: dict[str, list[int]] = defaultdict(list)
    for i, qid in enumerate(features["example_id"][:]):
        windows[qid].append(i)
    offsets_all = features["offset_mapping"][:]
    answers: dict[str, str] = {}
    for qid, context in zip(examples["id"][:], examples["context"][:], strict=True):
        best_score = -np.inf
        best_text = ""
        for i in windows.get(qid, []):
            offsets = offsets_all[i]
            top_s = np.argsort(start[i])[::-1][:n_best]
            top_e = np.argsort(end[i])[::-1][:n_best]
            for s in top_s:
                if s >= len(offsets) or offsets[s] is None:
                    continue
                for e in top_e:
                    if e >= len(offsets) or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    score = start[i, s] + end[i, e]
                    if score > best_score:
                        best_score = score
                        best_text = context[offsets[s][0] : offsets[e][1]]
        answers[qid] = best_text
    return answers
