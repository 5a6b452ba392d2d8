"""``analora llm``: decoder language models, one verb per step.

    analora llm convert --model smollm2          # GGUF -> cached safetensors (once)
    analora llm sft --out runs/llm-sft           # AHWA-LoRA instruction tuning
    analora llm eval --hardware paper-llm --adapter runs/llm-sft/adapter
    analora llm sweep --adapter runs/llm-sft/adapter --out runs/llm-sweep.json
    analora llm grpo --out runs/llm-grpo         # GRPO under 3 % weight noise
    analora llm study --out runs/llm-study       # everything, tables in docs/results/llm

The verbs parse arguments and call the workflow functions of
:mod:`analora.llm`; every run is resumable (rerun the same command).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from analora.llm.benchmarks import NAMES


def _model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="smollm2", help="smollm2, a local directory or a Hub id")


def _hardware(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--hardware", default=default, help="preset or YAML file (paper-llm, paper-pcm)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--analog-head", action="store_true", help="map the LM head to tiles too")


def _print(record: Any) -> None:
    print(json.dumps(record, indent=1, default=str))


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a packaged GGUF model to cached safetensors (done once)."""
    from analora.llm.models import local_model_dir

    print(local_model_dir(args.model))
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    """Instruction tuning with AHWA-LoRA (adapters under weight noise)."""
    from analora.llm.analog import LoraSpec
    from analora.llm.instructions import InstructionSpec
    from analora.llm.math import SYSTEM_PROMPT
    from analora.llm.sft import SFTSpec, sft_run

    sources = tuple(args.source or ("benchmarks", "math"))
    spec = SFTSpec(
        model=args.model,
        hardware=args.hardware,
        overrides=tuple(args.set),
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        lora=LoraSpec(rank=args.rank),
        data=InstructionSpec(
            sources=sources,
            alpaca=args.alpaca,
            max_length_tokens=args.max_length,
            math_dataset=args.math_dataset,
            system=SYSTEM_PROMPT if args.answer_format else None,
        ),
        analog_head=args.analog_head,
        seed=args.seed,
    )

    def progress(p: dict[str, Any]) -> None:
        print(f"step {p['step']}/{p['total']} loss {p['loss']:.3f} eta {p['eta_s']:.0f}s")

    result = sft_run(spec, args.out, resume=args.resume, progress=progress)
    print(f"adapter: {result.adapter} ({result.steps} steps, {result.examples} examples)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Zero-shot accuracy on the nine benchmarks (digital unless --hardware)."""
    from analora.llm.zeroshot import EvalSpec, mean_score, zero_shot

    spec = EvalSpec(
        model=args.model,
        adapter=args.adapter,
        hardware=args.hardware,
        overrides=tuple(args.set),
        chips=tuple(args.chips),
        age_s=args.age_s,
        benchmarks=tuple(args.benchmark or NAMES),
        limit=None if args.full else args.limit,
        analog_head=args.analog_head,
    )
    scores = zero_shot(spec)
    _print({"scores": scores, "mean": mean_score(scores)})
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """An adapted model against evaluation noise (Gaussian levels, PCM ages)."""
    from analora.errors import AnaloraError
    from analora.files import atomic_write_json, read_json
    from analora.llm.sweep import SweepSpec, noise_sweep
    from analora.llm.zeroshot import load_benchmarks

    out = Path(args.out)
    done = read_json(out, AnaloraError, f"delete {out}") if out.is_file() else {}
    spec = SweepSpec(
        model=args.model,
        adapter=args.adapter,
        levels=tuple(args.level) if args.level else SweepSpec.levels,
        pcm_ages_s=tuple(args.pcm_age_s) if args.pcm_age_s else SweepSpec.pcm_ages_s,
        chips=tuple(args.chips),
    )
    items = load_benchmarks(args.benchmark or ["hellaswag"], None if args.full else args.limit)
    results = dict(done)

    def save(name: str, rec: dict[str, Any]) -> None:
        results[name] = rec
        atomic_write_json(out, results)

    noise_sweep(spec, items, done, on_point=save)
    _print({k: {b: s["score"] for b, s in v["scores"].items()} for k, v in results.items()})
    return 0


def cmd_grpo(args: argparse.Namespace) -> int:
    """GRPO on math problems (GSM8K-style by default), analog (weight noise 0.03) or --digital."""
    from analora.llm.grpo import RL_NOISE, GRPOSpec, grpo_run

    spec = GRPOSpec(
        model=args.model,
        analog=not args.digital,
        hardware=args.hardware,
        overrides=tuple(args.set) or RL_NOISE,
        steps=args.steps,
        num_generations=args.generations,
        max_completion_tokens=args.max_completion_tokens,
        lr=args.lr,
        analog_head=args.analog_head,
        seed=args.seed,
        dataset=args.dataset,
        init_adapter=args.init_adapter,
    )
    record = grpo_run(spec, args.out)
    _print(record["log"][-1] if record["log"] else {})
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """Table IV, the noise sweep and Table V at this machine's sizes (--fast, --full)."""
    from analora.llm.study import FAST, FULL, MACHINE, llm_study

    sizes = FAST if args.fast else FULL if args.full else MACHINE
    if args.model:
        sizes = replace(sizes, model=args.model)
    _print(llm_study(args.out, args.results, sizes))
    return 0


def register(sub: Any) -> None:
    llm = sub.add_parser("llm", help="decoder LLMs: instruction tuning, zero-shot, GRPO")
    verbs = llm.add_subparsers(dest="llm_command", required=True)
    logging.getLogger("analora.llm").setLevel(logging.INFO)

    p = verbs.add_parser("convert", help=cmd_convert.__doc__)
    _model(p)
    p.set_defaults(func=cmd_convert)

    p = verbs.add_parser("sft", help=cmd_sft.__doc__)
    _model(p)
    _hardware(p, "paper-llm")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=5)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256, help="tokens per example")
    p.add_argument("--source", action="append", choices=("benchmarks", "math", "alpaca"))
    p.add_argument("--alpaca", default=None, help="Alpaca-format JSON file or Hub id")
    p.add_argument(
        "--math-dataset",
        default="gsm_symbolic",
        help="reasoning-gym set of the math source, NAME[:key=value,...]",
    )
    p.add_argument(
        "--answer-format",
        action="store_true",
        help="put GRPO's system prompt (the answer format) before every example",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.set_defaults(func=cmd_sft)

    p = verbs.add_parser("eval", help=cmd_eval.__doc__)
    _model(p)
    _hardware(p, None)
    p.add_argument("--adapter", default=None)
    p.add_argument("--chips", type=int, nargs="+", default=[0])
    p.add_argument("--age-s", type=float, default=0.0)
    p.add_argument("--benchmark", action="append", choices=NAMES)
    p.add_argument("--limit", type=int, default=100, help="items per benchmark")
    p.add_argument("--full", action="store_true", help="every validation item")
    p.set_defaults(func=cmd_eval)

    p = verbs.add_parser("sweep", help=cmd_sweep.__doc__)
    _model(p)
    p.add_argument("--adapter", required=True)
    p.add_argument("--out", required=True, help="JSON file (continued when it exists)")
    p.add_argument("--level", type=float, action="append", help="weight noise, e.g. 0.03")
    p.add_argument("--pcm-age-s", type=float, action="append")
    p.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--benchmark", action="append", choices=NAMES)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--full", action="store_true")
    p.set_defaults(func=cmd_sweep)

    p = verbs.add_parser("grpo", help=cmd_grpo.__doc__)
    _model(p)
    _hardware(p, "paper-llm")
    p.add_argument("--out", required=True)
    p.add_argument("--digital", action="store_true", help="no hardware: the digital reference")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--generations", type=int, default=4)
    p.add_argument("--max-completion-tokens", type=int, default=96)
    p.add_argument("--lr", type=float, default=5e-6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dataset",
        default="gsm_symbolic",
        help="reasoning-gym set, NAME[:key=value,...] (e.g. chain_sum:max_terms=2,max_digits=2)",
    )
    p.add_argument(
        "--init-adapter", default=None, help="start from this adapter (e.g. an llm sft run's)"
    )
    p.set_defaults(func=cmd_grpo)

    p = verbs.add_parser("study", help=cmd_study.__doc__)
    p.add_argument("--out", default="runs/llm-study")
    p.add_argument("--results", default="docs/results/llm")
    p.add_argument("--model", default=None, help="another causal LM (default smollm2)")
    p.add_argument("--fast", action="store_true", help="smoke-test sizes")
    p.add_argument("--full", action="store_true", help="the paper's sizes (a GPU's work)")
    p.set_defaults(func=cmd_study)
