"""The adapted model against evaluation noise: Gaussian weight noise levels
(one chip per seed, :class:`~analora.hardware.devices.GaussianDevice`) on the
model converted for training, and the PCM model (``paper-pcm``) at given
ages on a copy converted for it. Each point: mean and std over chips."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analora.hardware import load_hardware
from analora.hardware.devices import GaussianDevice
from analora.llm.analog import attach_adapter, to_analog
from analora.llm.models import load_causal_lm
from analora.llm.zeroshot import Items, evaluate_chips

log = logging.getLogger(__name__)

PAPER_LEVELS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.067)
PAPER_PCM_AGES_S = (0.0, 3600.0, 86400.0)


@dataclass(frozen=True)
class SweepSpec:
    model: str = "smollm2"
    adapter: str | None = None
    hardware: str = "paper-llm"
    overrides: tuple[str, ...] = ()
    levels: tuple[float, ...] = PAPER_LEVELS
    pcm_hardware: str | None = "paper-pcm"
    pcm_ages_s: tuple[float, ...] = PAPER_PCM_AGES_S
    chips: tuple[int, ...] = (0, 1, 2)
    analog_head: bool = False
    batch_size: int = 8


def point_name(kind: str, value: float) -> str:
    return f"noise-{100 * value:g}pct" if kind == "gaussian" else f"pcm-{value:g}s"


def noise_sweep(
    spec: SweepSpec, items: Items, done: dict[str, Any] | None = None, on_point: Any = None
) -> dict[str, Any]:
    """{point: scores per benchmark} for every level and PCM age; points in
    ``done`` are kept as they are (a resumed sweep), ``on_point(name, result)``
    is called after each new one (to save it)."""
    results = dict(done or {})
    todo = [("gaussian", v) for v in spec.levels if point_name("gaussian", v) not in results]
    if todo:
        model, tok = _adapted(spec, spec.hardware, list(spec.overrides))
        for kind, value in todo:
            scores = evaluate_chips(
                model, tok, items, spec.chips, 0.0, GaussianDevice(value), spec.batch_size
            )
            results[point_name(kind, value)] = _record(kind, value, spec.chips, scores, on_point)
        del model
    ages = [a for a in spec.pcm_ages_s if point_name("pcm", a) not in results]
    if spec.pcm_hardware is not None and ages:
        model, tok = _adapted(spec, spec.pcm_hardware, [])
        for age in ages:
            scores = evaluate_chips(model, tok, items, spec.chips, age, None, spec.batch_size)
            results[point_name("pcm", age)] = _record("pcm", age, spec.chips, scores, on_point)
    return results


def _record(kind: str, value: float, chips: Sequence[int], scores: dict, on_point: Any) -> dict:
    rec = {"kind": kind, "value": value, "chips": list(chips), "scores": scores}
    log.info("sweep point %s done", point_name(kind, value))
    if on_point is not None:
        on_point(point_name(kind, value), rec)
    return rec


def _adapted(spec: SweepSpec, hardware: str, overrides: list[str]) -> tuple[Any, Any]:
    lm = load_causal_lm(spec.model)
    to_analog(lm.model, load_hardware(hardware, overrides), spec.analog_head)
    model = attach_adapter(lm.model, spec.adapter) if spec.adapter else lm.model
    model.eval()
    return model, lm.tokenizer
