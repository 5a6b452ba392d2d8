"""SQuAD windows, CLS targets, offsets, and post-processing back to text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analora.tasks.metrics import squad_metrics
from analora.tasks.preprocess import tokenize_split
from analora.tasks.qa import postprocess
from analora.tasks.sources import load_task


@pytest.fixture(scope="module")
def dev200(data_dir: Path):  # type: ignore[no-untyped-def]
    dev = load_task("squad", ["validation"], data_dir=data_dir).splits["validation"]
    return dev.select(range(200))


def test_train_features_point_at_the_answer_or_cls(tokenizer, dev200, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ex = dev200.select(range(40))
    feats = tokenize_split(tokenizer, "squad", ex, "train", 128, doc_stride=32, cache_dir=tmp_path)
    ds = feats.dataset
    # contexts longer than a 128-token window are cut into several overlapping windows
    assert len(ds) > len(ex)
    assert all(len(ids) == 128 for ids in ds["input_ids"])
    n_cls = 0
    for row in ds:
        s, e = row["start_positions"], row["end_positions"]
        assert 0 <= s <= e < 128
        if s == 0:
            n_cls += 1
            assert e == 0
            continue
        text = tokenizer.decode(row["input_ids"][s : e + 1])
        assert text  # the span decodes to something inside the context
    assert 0 < n_cls < len(ds)  # some windows miss the answer and point at CLS
    gold = ex[0]["answers"]["text"][0].lower()
    first = ds[0]
    span = tokenizer.decode(
        first["input_ids"][first["start_positions"] : first["end_positions"] + 1]
    )
    assert span.replace(" ", "") == gold.replace(" ", "")


def test_eval_features_and_length_320(tokenizer, dev200, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ex = dev200.select(range(10))
    ds = tokenize_split(tokenizer, "squad", ex, "validation", 320, cache_dir=tmp_path).dataset
    assert all(len(ids) == 320 for ids in ds["input_ids"])
    assert set(ds["example_id"]) == set(ex["id"])
    row = ds[0]
    assert row["offset_mapping"][0] is None  # CLS
    context_tokens = [o for o in row["offset_mapping"] if o is not None]
    assert context_tokens and context_tokens[0][0] >= 0


def _aligned_gold(offsets, answers):  # type: ignore[no-untyped-def]
    """(first, last) token of the first gold answer whose span starts and ends on token
    boundaries in this window, or None. A few SQuAD golds cut through a word (e.g.
    "gold" inside "golden"); no token-level reader can output those."""
    for text, lo in zip(answers["text"], answers["answer_start"], strict=True):
        hi = lo + len(text)
        toks = [k for k, o in enumerate(offsets) if o is not None and o[0] < hi and o[1] > lo]
        if toks and offsets[toks[0]][0] == lo and offsets[toks[-1]][1] == hi:
            return toks[0], toks[-1]
    return None


@pytest.mark.parametrize(("length", "stride"), [(384, 128), (96, 32)])
def test_gold_spans_score_100(tokenizer, dev200, tmp_path: Path, length, stride) -> None:  # type: ignore[no-untyped-def]
    # 200 real dev questions, MiniLM tokenizer, length 384 stride 128 (one window per
    # question here) and 96/32 (several windows). Logits are 10 at a gold span's
    # first/last token in every window holding it, 0 elsewhere.
    feats = tokenize_split(
        tokenizer, "squad", dev200, "validation", length, doc_stride=stride, cache_dir=tmp_path
    ).dataset
    assert (len(feats) > 2 * len(dev200)) == (length == 96)
    answers = {r["id"]: r["answers"] for r in dev200}
    n, length = len(feats), len(feats[0]["input_ids"])
    start, end = np.zeros((n, length)), np.zeros((n, length))
    reachable = set()
    for i, (qid, offsets) in enumerate(
        zip(feats["example_id"][:], feats["offset_mapping"][:], strict=True)
    ):
        span = _aligned_gold(offsets, answers[qid])
        if span is not None:
            start[i, span[0]] = end[i, span[1]] = 10.0
            reachable.add(qid)
    # Every one of these 200 questions has a token-aligned gold answer in some window
    # (for 8 of them only a later one: e.g. the first gold "8" lies inside "18").
    assert reachable == set(answers)
    preds = postprocess(dev200, feats, start, end)
    refs = {q: a["text"] for q, a in answers.items()}
    assert squad_metrics(preds, refs) == {"exact_match": 100.0, "f1": 100.0}


def test_postprocess_rules(tokenizer, dev200, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ex = dev200.select(range(1))
    feats = tokenize_split(tokenizer, "squad", ex, "validation", cache_dir=tmp_path).dataset
    offsets = feats[0]["offset_mapping"]
    ctx = [k for k, o in enumerate(offsets) if o is not None]
    start, end = np.zeros((1, 384)), np.zeros((1, 384))
    start[0, 0] = end[0, 0] = 100.0  # CLS is never an answer
    start[0, ctx[5]] = 9.0
    end[0, ctx[2]] = 9.0  # ends before the start: rejected
    end[0, ctx[5] + 40] = 8.0  # 41 tokens > max_answer_length 30: rejected
    end[0, ctx[7]] = 1.0  # best valid: ctx[5]..ctx[7], score 10
    got = postprocess(ex, feats, start, end)
    context = ex[0]["context"]
    assert got[ex[0]["id"]] == context[offsets[ctx[5]][0] : offsets[ctx[7]][1]]
