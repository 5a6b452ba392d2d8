"""The decoder-LLM study: the paper's Table IV (zero-shot on nine benchmarks:
digital, analog before and after AHWA-LoRA instruction tuning), its sweep
over evaluation noise, and Table V (GRPO on math problems), at sizes this
machine runs in about an hour (``sizes=FULL`` for the full benchmark sets).

Every stage writes its result as JSON under ``out`` as soon as it is done
(benchmark by benchmark, sweep point by sweep point) and a rerun skips what
exists, so a killed study continues where it stopped; instruction tuning
resumes from its last checkpoint. The tables and ``summary.json`` (schema
``analora-llm-summary/1``) go to ``results_dir``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json, read_json
from analora.llm.benchmarks import NAMES
from analora.llm.grpo import GRPOSpec
from analora.llm.instructions import InstructionSpec
from analora.llm.sft import SFTSpec

log = logging.getLogger(__name__)

SCHEMA = "analora-llm-summary/1"


@dataclass(frozen=True)
class StudySizes:
    """How much of everything the study runs."""

    sft_steps: int = 200
    """Two passes over the 400-example instruction set."""
    sft_batch: int = 4
    sft_max_tokens: int = 192
    sft_lr: float = 1e-3
    """The paper's 2e-4 is for 6,470 steps; at 40 steps it left the adapter
    short of the unadapted model (docs/results/llm/README.md)."""
    items: int | None = 30
    """Items per benchmark for Table IV; None: every validation item."""
    chips: tuple[int, ...] = (0,)
    sweep_benchmarks: tuple[str, ...] = ("piqa", "arc_easy")
    """Where the digital model is well above chance (HellaSwag, the paper's, is
    near chance for a 135M model)."""
    sweep_items: int | None = 20
    sweep_levels: tuple[float, ...] = (0.0, 0.02, 0.04, 0.067)
    sweep_pcm_ages_s: tuple[float, ...] = (0.0,)
    sweep_chips: tuple[int, ...] = (0, 1)
    grpo_dataset: str = "chain_sum:max_terms=2,max_digits=2"
    """Two-term sums of numbers under 100: SmolLM2-135M solves some but not all
    (GSM8K-style problems, the paper's, it solves none, so rewards never spread)."""
    grpo_warmup_steps: int = 40
    """Supervised steps on worked solutions in the answer format before GRPO
    (the paper starts RL from its instruction-tuned model)."""
    grpo_warmup_lr: float = 1e-3
    grpo_steps: int = 20
    grpo_generations: int = 8
    """Completions per problem: with 4, most groups of the warmed-up model
    were all right or all wrong (55-70 %), which gives GRPO no gradient."""
    grpo_completion_tokens: int = 48
    grpo_lr: float = 5e-4
    """20 steps at 5e-5 left greedy decoding where it was (the paper runs 500
    steps at 5e-6)."""
    eval_problems: int = 32
    eval_new_tokens: int = 48
    batch_size: int = 16
    heldout_examples: int = 32
    model: str = "smollm2"


MACHINE = StudySizes()
FAST = StudySizes(
    sft_steps=2,
    sft_batch=2,
    sft_max_tokens=160,
    items=2,
    sweep_items=2,
    sweep_levels=(0.0, 0.067),
    sweep_chips=(0,),
    grpo_warmup_steps=2,
    grpo_steps=1,
    grpo_generations=2,
    grpo_completion_tokens=8,
    eval_problems=2,
    eval_new_tokens=8,
    heldout_examples=2,
)
FULL = StudySizes(
    sft_steps=6470,
    sft_batch=8,
    sft_max_tokens=2048,
    sft_lr=2e-4,
    items=None,
    chips=(0, 1, 2),
    sweep_benchmarks=NAMES,
    sweep_items=None,
    sweep_levels=(0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.067),
    sweep_pcm_ages_s=(0.0, 3600.0, 86400.0),
    sweep_chips=(0, 1, 2),
    grpo_dataset="gsm_symbolic",
    grpo_warmup_steps=200,
    grpo_warmup_lr=2e-4,
    grpo_steps=500,
    grpo_generations=16,
    grpo_completion_tokens=1024,
    grpo_lr=5e-6,
    eval_problems=500,
    eval_new_tokens=1024,
)


def _cached(path: Path, compute: Any) -> Any:
    if path.is_file():
        return read_json(path, AnaloraError, f"delete {path} to recompute it")
    value = compute()
    atomic_write_json(path, value)
    return value


def _sft(out: Path, sizes: StudySizes) -> Path:
    from analora.llm.sft import sft_run

    adapter = out / "sft" / "adapter"
    if not (out / "sft" / "sft.json").is_file():
        spec = SFTSpec(
            model=sizes.model,
            steps=sizes.sft_steps,
            lr=sizes.sft_lr,
            warmup_steps=min(5, sizes.sft_steps - 1),
            batch_size=sizes.sft_batch,
            data=InstructionSpec(max_length_tokens=sizes.sft_max_tokens),
        )
        sft_run(spec, out / "sft", resume=True, progress=_progress("sft"))
    return adapter


def _progress(name: str) -> Any:
    def report(p: dict[str, Any]) -> None:
        log.info("%s step %d/%d loss %.3f", name, p["step"], p["total"], p["loss"])

    return report


def _table4(out: Path, sizes: StudySizes, adapter: Path) -> dict[str, dict[str, Any]]:
    """{config: {benchmark: scores}}, benchmark by benchmark, each cached."""
    from analora.hardware import load_hardware
    from analora.llm.analog import attach_adapter, to_analog
    from analora.llm.models import load_causal_lm
    from analora.llm.zeroshot import evaluate, evaluate_chips, load_benchmarks

    result: dict[str, dict[str, Any]] = {}
    for config in ("digital", "analog_before", "analog_after"):
        d = out / "zeroshot" / config
        todo = [n for n in NAMES if not (d / f"{n}.json").is_file()]
        if todo:
            lm = load_causal_lm(sizes.model)
            model = lm.model
            if config != "digital":
                to_analog(model, load_hardware("paper-llm"))
                if config == "analog_after":
                    model = attach_adapter(model, adapter)
                model.eval()
            for name in todo:
                items = load_benchmarks([name], sizes.items)
                if config == "digital":
                    scores = evaluate(model, lm.tokenizer, items, sizes.batch_size)
                else:
                    scores = evaluate_chips(
                        model, lm.tokenizer, items, sizes.chips, batch_size=sizes.batch_size
                    )
                atomic_write_json(d / f"{name}.json", scores[name])
                log.info("%s %s: %.2f", config, name, scores[name]["score"])
        result[config] = {
            n: read_json(d / f"{n}.json", AnaloraError, "rerun the study") for n in NAMES
        }
    return result


def _sweep_done(out: Path) -> dict[str, Any]:
    d = out / "sweep"
    return {p.stem: read_json(p, AnaloraError, "rerun the study") for p in sorted(d.glob("*.json"))}


def _sweep(out: Path, sizes: StudySizes, adapter: Path) -> dict[str, Any]:
    from analora.llm.sweep import SweepSpec, noise_sweep
    from analora.llm.zeroshot import load_benchmarks

    d = out / "sweep"
    done = _sweep_done(out)
    spec = SweepSpec(
        model=sizes.model,
        adapter=str(adapter),
        levels=sizes.sweep_levels,
        pcm_ages_s=sizes.sweep_pcm_ages_s,
        chips=sizes.sweep_chips,
        batch_size=sizes.batch_size,
    )
    items = load_benchmarks(sizes.sweep_benchmarks, sizes.sweep_items)
    return noise_sweep(
        spec, items, done, on_point=lambda name, rec: atomic_write_json(d / f"{name}.json", rec)
    )


def _grpo(out: Path, sizes: StudySizes) -> dict[str, Any]:
    """Accuracy before and after GRPO, digital and analog (3 % weight noise).
    "Before" is the model GRPO starts from: LoRA warmed up on worked
    solutions in the answer format (digital: the same with no noise)."""
    from analora.llm.grpo import grpo_run

    d = out / "grpo"
    result: dict[str, Any] = {}
    for analog in (False, True):
        kind = "analog" if analog else "digital"
        start = _grpo_warmup(d / f"{kind}-warmup", sizes, analog)
        spec = GRPOSpec(
            model=sizes.model,
            analog=analog,
            steps=sizes.grpo_steps,
            num_generations=sizes.grpo_generations,
            max_completion_tokens=sizes.grpo_completion_tokens,
            lr=sizes.grpo_lr,
            dataset=sizes.grpo_dataset,
            init_adapter=None if start is None else str(start),
        )
        result[f"{kind}_before"] = _cached(
            d / f"{kind}_before.json", lambda s=spec, a=start: _math_eval(s, a, sizes)
        )
        if not (d / kind / "grpo.json").is_file():
            grpo_run(spec, d / kind)
        result[f"{kind}_after"] = _cached(
            d / f"{kind}_after.json", lambda s=spec, k=kind: _math_eval(s, d / k / "adapter", sizes)
        )
    return result


def _grpo_warmup(run: Path, sizes: StudySizes, analog: bool) -> Path | None:
    """The supervised start of GRPO (``None`` when the sizes ask for none)."""
    from analora.llm.grpo import RL_NOISE
    from analora.llm.math import SYSTEM_PROMPT
    from analora.llm.sft import sft_run

    if sizes.grpo_warmup_steps < 1:
        return None
    if not (run / "sft.json").is_file():
        quiet = ("training.weight_noise_std=0", "device.weight_noise_std=0")
        spec = SFTSpec(
            model=sizes.model,
            overrides=RL_NOISE if analog else quiet,
            steps=sizes.grpo_warmup_steps,
            warmup_steps=min(5, sizes.grpo_warmup_steps - 1),
            batch_size=4,
            lr=sizes.grpo_warmup_lr,
            data=InstructionSpec(
                sources=("math",),
                math_dataset=sizes.grpo_dataset,
                max_length_tokens=max(sizes.sft_max_tokens, 256),  # the system turn is long
                system=SYSTEM_PROMPT,
            ),
        )
        sft_run(spec, run, resume=True, progress=_progress(run.name))
    return run / "adapter"


def _math_eval(spec: GRPOSpec, adapter: Path | None, sizes: StudySizes) -> dict[str, Any]:
    from analora.hardware import load_hardware
    from analora.llm.analog import attach_adapter, program_chip, to_analog
    from analora.llm.grpo import eval_problems, math_eval
    from analora.llm.models import load_causal_lm

    lm = load_causal_lm(spec.model)
    model = lm.model
    problems = eval_problems(sizes.eval_problems, spec.dataset)
    if spec.analog:
        to_analog(model, load_hardware(spec.hardware, list(spec.overrides)))
    if adapter is not None:
        model = attach_adapter(model, adapter, analog=spec.analog)
    if not spec.analog:
        return math_eval(model, lm.tokenizer, problems, sizes.eval_new_tokens)
    runs = []
    for seed in sizes.chips:
        with program_chip(model, seed).reading(0.0):
            runs.append(math_eval(model, lm.tokenizer, problems, sizes.eval_new_tokens))
    best = dict(runs[0])
    best["accuracy"] = sum(r["accuracy"] for r in runs) / len(runs)
    best["chips"] = [r["accuracy"] for r in runs]
    return best


_SFT = ("model", "sft_steps", "sft_batch", "sft_max_tokens", "sft_lr")
_WARMUP = ("model", "grpo_dataset", "grpo_warmup_steps", "grpo_warmup_lr", "sft_max_tokens")
_GRPO = (*_WARMUP, "grpo_steps", "grpo_generations", "grpo_completion_tokens", "grpo_lr")
_MATH = ("eval_problems", "eval_new_tokens")
STAGE_SIZES: dict[str, tuple[str, ...]] = {
    "sft": _SFT,
    "zeroshot/digital": ("model", "items", "batch_size"),
    "zeroshot/analog_before": ("model", "items", "chips", "batch_size"),
    "zeroshot/analog_after": (*_SFT, "items", "chips", "batch_size"),
    "heldout_loss.json": (*_SFT, "heldout_examples", "sweep_chips"),
    "sweep": (
        *_SFT,
        *("sweep_benchmarks", "sweep_items", "sweep_levels", "sweep_pcm_ages_s", "sweep_chips"),
        "batch_size",
    ),
    "grpo/digital-warmup": _WARMUP,
    "grpo/digital_before.json": (*_WARMUP, *_MATH),
    "grpo/digital": _GRPO,
    "grpo/digital_after.json": (*_GRPO, *_MATH),
    "grpo/analog-warmup": _WARMUP,
    "grpo/analog_before.json": (*_WARMUP, *_MATH, "chips"),
    "grpo/analog": _GRPO,
    "grpo/analog_after.json": (*_GRPO, *_MATH, "chips"),
}
"""What each stage's files (under the study directory) depend on."""


def check_sizes(out: Path, sizes: StudySizes) -> None:
    """Refuse to mix stages made with other sizes into this run's tables: a
    finished stage is reused only if the sizes it depends on are unchanged."""
    path = out / "sizes.json"
    if not path.is_file():
        return
    old = read_json(path, AnaloraError, f"delete {path}")
    new = json.loads(json.dumps(asdict(sizes)))  # tuples as lists, as on disk
    changed = {k for k in new if old.get(k) != new[k]}
    stale = [
        str(out / stage)
        for stage, fields in STAGE_SIZES.items()
        if changed.intersection(fields) and (out / stage).exists()
    ]
    if stale:
        raise AnaloraError(
            f"{out} holds stages made with other sizes ({', '.join(sorted(changed))}): "
            f"delete {' '.join(stale)} to recompute them, or choose another --out"
        )


def llm_study(
    out: str | Path, results_dir: str | Path, sizes: StudySizes = MACHINE
) -> dict[str, Any]:
    """Run (or continue) every stage; write the tables and ``summary.json``."""
    from analora.llm.report import write_results

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_sizes(out, sizes)
    atomic_write_json(out / "sizes.json", asdict(sizes))
    adapter = _sft(out, sizes)
    table4 = _table4(out, sizes, adapter)
    grpo = _grpo(out, sizes)
    # The tables so far (the sweep, the longest stage, comes last).
    write_results(Path(results_dir), table4, _sweep_done(out), grpo, sizes, out)
    sweep = _sweep(out, sizes, adapter)
    write_results(Path(results_dir), table4, sweep, grpo, sizes, out)
    _cached(out / "heldout_loss.json", lambda: _heldout(sizes, adapter))
    return write_results(Path(results_dir), table4, sweep, grpo, sizes, out)


def _heldout(sizes: StudySizes, adapter: Path) -> dict[str, Any]:
    from analora.llm.heldout import heldout_losses

    return heldout_losses(
        sizes.model, adapter, sizes.heldout_examples, sizes.sft_max_tokens, sizes.sweep_chips
    )
