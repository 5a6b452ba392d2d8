"""Reading SQuAD v1.1's official JSON files, and the ``squad-devsplit`` protocol.

A file holds ``{"version", "data": [{"title", "paragraphs": [{"context", "qas":
[{"id", "question", "answers": [{"answer_start", "text"}]}]}]}]}``. Each question
becomes one row in the Hub's ``rajpurkar/squad`` schema: ``id``, ``title``,
``context``, ``question``, ``answers = {"text": [...], "answer_start": [...]}``.

``squad-devsplit`` exists because only the dev file is vendored here: it cuts
the 48 dev articles into 38 to train on and 10 to evaluate on, by a seeded
shuffle of the sorted titles, so no paragraph of an evaluation article is ever
seen in training. Scores on it are NOT comparable with the official protocol
(train on ``train-v1.1.json``, 442 articles; evaluate on all of dev).

Source: Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension
of Text" (EMNLP 2016).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, DatasetDict, Features, List, Value

from analora.errors import DataError
from analora.seeds import generator
from analora.tasks.glue import read_text
from analora.tasks.registry import TaskSpec
from analora.tasks.validate import FIX_FILE, answers_problem, text_problem

logger = logging.getLogger(__name__)

FEATURES = Features(
    {
        "id": Value("string"),
        "title": Value("string"),
        "context": Value("string"),
        "question": Value("string"),
        "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
    }
)

DEVSPLIT_EVAL_ARTICLES = 10
"""Articles held out for evaluation in ``squad-devsplit`` (the other 38 train)."""


def find_squad_file(spec: TaskSpec, root: Path, split: str) -> Path | None:
    """``root/squad/v1.1/<file>``, ``root/squad/<file>`` or ``root/<file>``, if present."""
    name = spec.split_files[split]
    for candidate in (root / spec.folder / name, root / "squad" / name, root / name):
        if candidate.is_file():
            return candidate
    return None


def _get(obj: Any, key: str, kind: type, path: Path, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(
            f"{path}: {where} has no field {key!r}: the file is not SQuAD v1.1 JSON; "
            "re-download it or pass --data-dir with the official files"
        )
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(
            f"{path}: {where}.{key} is a {type(value).__name__}, expected {kind.__name__}: "
            "the file is not SQuAD v1.1 JSON; re-download it"
        )
    return value


def load_squad_file(path: Path) -> Dataset:
    """All questions of one official SQuAD v1.1 JSON file, one row each; every
    question is checked (:mod:`analora.tasks.validate`) and the first unusable
    one is refused with its ``file:line``."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno} is not valid JSON ({exc.msg}): re-download the file"
        ) from None
    rows: dict[str, list[Any]] = {k: [] for k in FEATURES}
    first_seen: dict[str, str] = {}
    for a, article in enumerate(_get(doc, "data", list, path, "top level")):
        title = _get(article, "title", str, path, f"data[{a}]")
        for p, para in enumerate(_get(article, "paragraphs", list, path, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _get(para, "context", str, path, where)
            for q, qa in enumerate(_get(para, "qas", list, path, where)):
                wq = f"{where}.qas[{q}]"
                qid = _get(qa, "id", str, path, wq)
                question = _get(qa, "question", str, path, wq)
                texts, starts = [], []
                for k, ans in enumerate(_get(qa, "answers", list, path, wq)):
                    texts.append(_get(ans, "text", str, path, f"{wq}.answers[{k}]"))
                    starts.append(_get(ans, "answer_start", int, path, f"{wq}.answers[{k}]"))
                problem = (
                    text_problem("context", context)
                    or text_problem("question", question)
                    or answers_problem(context, texts, starts)
                )
                if problem is None and qid in first_seen:
                    problem = f"id {qid!r} again (first at {first_seen[qid]})"
                if problem:
                    place = _place(path, text, qid, 1 if qid in first_seen else 0)
                    raise DataError(f"{place} ({wq}, id {qid!r}) has {problem}: {FIX_FILE}")
                first_seen[qid] = wq
                rows["id"].append(qid)
                rows["title"].append(title)
                rows["context"].append(context)
                rows["question"].append(question)
                rows["answers"].append({"text": texts, "answer_start": starts})
    if not rows["id"]:
        raise DataError(f"{path} holds no questions: re-download the file")
    logger.info("read %d SQuAD questions from %s", len(rows["id"]), path)
    return Dataset.from_dict(rows, features=FEATURES)


def _place(path: Path, text: str, qid: str, nth: int) -> str:
    """``path:line`` of the ``nth`` (0-based) question with id ``qid``, found
    by the id as written in the file; ``path`` alone if not found."""
    for needle in (json.dumps(qid, ensure_ascii=False), json.dumps(qid)):
        at = -1
        for _ in range(nth + 1):
            at = text.find(needle, at + 1)
            if at < 0:
                break
        if at >= 0:
            return f"{path}:{text.count(chr(10), 0, at) + 1}"
    return str(path)


def devsplit_titles(
    titles: list[str], seed: int = 0, n_eval: int = DEVSPLIT_EVAL_ARTICLES
) -> tuple[list[str], list[str]]:
    """(train titles, eval titles): a seeded shuffle of the sorted unique titles.

    Sorting first makes the result independent of file order; the permutation
    comes from ``derive_seed("squad-devsplit", seed)``, so it is the same on any
    machine and any torch thread count.
    """
    unique = sorted(set(titles))
    if len(unique) <= n_eval:
        raise DataError(
            f"squad-devsplit needs more than {n_eval} articles, the data has {len(unique)}: "
            "point --data-dir at the full dev-v1.1.json"
        )
    order = torch.randperm(len(unique), generator=generator("squad-devsplit", seed)).tolist()
    shuffled = [unique[i] for i in order]
    return sorted(shuffled[n_eval:]), sorted(shuffled[:n_eval])


def devsplit(dev: Dataset, seed: int = 0, n_eval: int = DEVSPLIT_EVAL_ARTICLES) -> DatasetDict:
    """Split SQuAD dev into article-disjoint ``train`` and ``validation`` parts."""
    titles = dev["title"][:]
    train_t, eval_t = devsplit_titles(titles, seed, n_eval)
    held_out = set(eval_t)
    train_idx = [i for i, t in enumerate(titles) if t not in held_out]
    eval_idx = [i for i, t in enumerate(titles) if t in held_out]
    logger.info(
        "squad-devsplit (seed %d): %d articles/%d questions train, %d/%d eval",
        seed,
        len(train_t),
        len(train_idx),
        len(eval_t),
        len(eval_idx),
    )
    return DatasetDict(
        {
            "train": dev.select(train_idx),
            "validation": dev.select(eval_idx),
        }
    )
