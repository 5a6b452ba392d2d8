"""Zero-shot evaluation of a (digital or analog, adapted or not) decoder on
the nine benchmarks, and its sweep over evaluation noise.

An analog model is scored on ``chips`` (programmed chip seeds) read at
``age_s``; the result per benchmark is the mean over chips with its standard
deviation. The score the paper's Table IV reports is ``acc_norm`` where lm-eval
reports it (HellaSwag, PIQA, ARC-c, ARC-e, SciQ, OBQA) and ``acc`` otherwise
(BoolQ, WinoGrande, COPA): the model column of its digital LLaMA-3.1-8B row
matches lm-eval's acc_norm there.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from analora.hardware.devices import DeviceModel
from analora.llm.analog import program_chip
from analora.llm.benchmarks import BENCHMARKS, NAMES, MCItem, check_names, load_items
from analora.llm.scoring import score_items

log = logging.getLogger(__name__)

Items = dict[str, list[MCItem]]


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate: a model, optionally analog (``hardware``) with an adapter."""

    model: str = "smollm2"
    adapter: str | None = None
    hardware: str | None = None
    """None: the digital model."""
    overrides: tuple[str, ...] = ()
    chips: tuple[int, ...] = (0,)
    age_s: float = 0.0
    benchmarks: tuple[str, ...] = NAMES
    limit: int | None = 100
    """Items per benchmark (a seeded subset); None: all."""
    batch_size: int = 8
    analog_head: bool = False
    data_dir: str | None = None
    seed: int = 0


def primary(name: str, scores: dict[str, float]) -> float:
    """The paper's score of a benchmark: acc_norm where lm-eval reports it, else acc."""
    return scores["acc_norm"] if BENCHMARKS[name].has_norm else scores["acc"]


def load_benchmarks(
    names: Sequence[str], limit: int | None, data_dir: str | None = None, seed: int = 0
) -> Items:
    check_names(list(names))
    return {n: load_items(n, limit, data_dir, seed) for n in names}


def evaluate(model: nn.Module, tokenizer: Any, items: Items, batch_size: int = 8) -> dict:
    """Scores per benchmark (acc, acc_norm, score, items) of the model as it is."""
    out = {}
    for name, its in items.items():
        s = score_items(model, tokenizer, its, batch_size)
        out[name] = {**s, "score": primary(name, s)}
        log.info("%s: %.2f (%d items)", name, out[name]["score"], len(its))
    return out


def _aggregate(runs: list[dict]) -> dict:
    out = {}
    for name in runs[0]:
        values = [r[name]["score"] for r in runs]
        out[name] = {
            "score": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "acc": statistics.fmean(r[name]["acc"] for r in runs),
            "acc_norm": statistics.fmean(r[name]["acc_norm"] for r in runs),
            "items": runs[0][name]["items"],
            "chips": [r[name]["score"] for r in runs],
        }
    return out


def evaluate_chips(
    model: nn.Module,
    tokenizer: Any,
    items: Items,
    chips: Sequence[int],
    age_s: float = 0.0,
    device: DeviceModel | None = None,
    batch_size: int = 8,
) -> dict:
    """Scores per benchmark, mean and std over chips, of a converted model
    (adapters included) programmed on each chip seed and read at ``age_s``."""
    runs = []
    for seed in chips:
        chip = program_chip(model, seed, device)
        with chip.reading(age_s):
            runs.append(evaluate(model, tokenizer, items, batch_size))
        del chip
    return _aggregate(runs)


def mean_score(scores: dict) -> float:
    return statistics.fmean(s["score"] for s in scores.values())


def zero_shot(spec: EvalSpec, on_model: Callable[[nn.Module], None] | None = None) -> dict:
    """Evaluate as ``spec`` says: {benchmark: {score, std, acc, acc_norm, items}}."""
    from analora.hardware import load_hardware
    from analora.llm.analog import attach_adapter, to_analog
    from analora.llm.models import load_causal_lm

    lm = load_causal_lm(spec.model)
    items = load_benchmarks(spec.benchmarks, spec.limit, spec.data_dir, spec.seed)
    model: nn.Module = lm.model
    if spec.hardware is None:
        if spec.adapter is not None:
            model = attach_adapter(model, spec.adapter, analog=False)
        return _aggregate([evaluate(model, lm.tokenizer, items, spec.batch_size)])
    to_analog(model, load_hardware(spec.hardware, list(spec.overrides)), spec.analog_head)
    if spec.adapter is not None:
        model = attach_adapter(model, spec.adapter)
    model.eval()
    return evaluate_chips(model, lm.tokenizer, items, spec.chips, spec.age_s, None, spec.batch_size)
