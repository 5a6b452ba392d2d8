"""``analora study``: the studies, one command each."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_multitask(args: argparse.Namespace) -> int:
    """Five GLUE tasks on one chip (a bank, mixed batches) against each task alone."""
    from analora.studies.multitask import run_multitask

    run_multitask(args.out, args.data_dir, fast=args.fast)
    return 0


def cmd_readapt(args: argparse.Namespace) -> int:
    """Change the converters (or another periphery constraint) of programmed
    chips and re-adapt by retraining the adapters only."""
    from dataclasses import replace

    from analora.studies.readapt import FAST, ReadaptSizes, run_readapt

    sizes = replace(FAST if args.fast else ReadaptSizes(), on_chip_age=args.on_chip_age)
    run_readapt(args.out, args.data_dir, adapter=args.adapter, change=args.set, sizes=sizes)
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    """Fine-tune adapters for chip age bands and pick them by age; compare
    with one adapter for the chip's whole life."""
    from analora.studies.refresh import run_refresh

    run_refresh(args.out, args.data_dir, adapter=args.adapter, fast=args.fast)
    return 0


def reproduce_sizes(args: argparse.Namespace) -> Any:
    """The study's sizes from the command line: FAST or the defaults, with the
    flags given replacing their fields."""
    from dataclasses import replace

    from analora.studies.reproduce import FAST, ReproduceSizes

    sizes = FAST if args.fast else ReproduceSizes()
    changes = {
        "tasks": tuple(args.tasks) if args.tasks else None,
        "methods": tuple(args.methods) if args.methods else None,
        "chips": args.chips,
        "max_train_examples": args.max_train_examples,
        "chip_lora_examples": args.chip_lora_examples,
        "times": tuple(args.times) if args.times else None,
        "warm_start_tasks": None if args.warm_start is None else tuple(args.warm_start),
        "warm_start_epochs": args.warm_start_epochs,
        "rank_tasks": tuple(args.rank_tasks) if args.rank_tasks else None,
        "memory_task": args.memory_task,
    }
    return replace(sizes, **{k: v for k, v in changes.items() if v is not None})


def cmd_reproduce(args: argparse.Namespace) -> int:
    """The paper's claims on every task: all methods, chips x ages, the bank,
    re-adaptation, rank ablation; results under --results-dir (resumable)."""
    from analora.studies.reproduce import STAGES, run_reproduce

    stages = tuple(args.stage) if args.stage else STAGES
    target = run_reproduce(
        args.out,
        args.data_dir,
        stages=stages,
        sizes=reproduce_sizes(args),
        results_dir=args.results_dir,
        results_md=args.results_md,
        device=args.device,
    )
    print(f"results: {target}")
    return 0


def cmd_results_md(args: argparse.Namespace) -> int:
    """Rebuild RESULTS.md from a results folder the report stage wrote (its
    tables, figures, intro and the studies kept beside it, whose own tasks
    join the claims and summary.json), without the runs."""
    from pathlib import Path

    from analora.studies.analysis import rebuild_results_md

    rebuild_results_md(Path(args.results_dir), Path(args.results_md))
    print(f"wrote {args.results_md}")
    return 0


def _common(p: Any, out: str) -> None:
    p.add_argument("--data-dir", default=None, help="GLUE folder (else ANALORA_DATA_DIR or Hub)")
    p.add_argument("--out", default=out)
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test")


def register(sub: Any) -> None:
    study = sub.add_parser("study", help="multi-task, re-adaptation and refresh studies")
    verbs = study.add_subparsers(dest="study_command", required=True)
    p = verbs.add_parser("multitask", help=cmd_multitask.__doc__)
    _common(p, "runs/multitask")
    p.set_defaults(func=cmd_multitask)

    p = verbs.add_parser("readapt", help=cmd_readapt.__doc__)
    p.add_argument("--adapter", default=None, help="an ahwa-lora run to start from (else trained)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="the changed constraint (default: converters.dac_bits=6 converters.adc_bits=6)",
    )
    p.add_argument(
        "--on-chip-age",
        metavar="AGE",
        help="also retrain the adapter on each chip itself at this age (e.g. 10y), chip-lora",
    )
    _common(p, "runs/readapt")
    p.set_defaults(func=cmd_readapt)

    p = verbs.add_parser("reproduce", help=cmd_reproduce.__doc__)
    p.add_argument(
        "--stage",
        action="append",
        choices=("train", "sweep", "bank", "readapt", "rank", "memory", "report"),
        help="run only these stages (default: all, skipping what is done)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--results-dir", default=None, help="default: OUT/results")
    p.add_argument("--results-md", default=None, help="also write RESULTS.md here")
    p.add_argument("--tasks", nargs="+", help="default: sst2 cola mrpc rte stsb wnli")
    p.add_argument(
        "--methods",
        nargs="+",
        help="only these methods (default: all six; chip-lora needs ahwa-lora, direct and ahwa"
        " need digital)",
    )
    p.add_argument("--chips", type=int, help="chips per method (default 5)")
    p.add_argument("--times", nargs="+", help="ages (default: 0 1h 1d 1w 30d 1y 10y)")
    p.add_argument(
        "--max-train-examples", type=int, help="a training subset for every method (default: full)"
    )
    p.add_argument(
        "--chip-lora-examples", type=int, help="chip-lora calibration set (default 2000)"
    )
    p.add_argument(
        "--warm-start",
        nargs="*",
        metavar="TASK",
        help="tasks whose ahwa-lora starts from their digital-lora run (default: cola rte;"
        " none when given without tasks)",
    )
    p.add_argument(
        "--warm-start-epochs",
        type=int,
        metavar="N",
        help="epochs of a warm-started ahwa-lora (default 3)",
    )
    p.add_argument(
        "--rank-tasks",
        nargs="+",
        metavar="TASK",
        help="tasks of the rank ablation (default: sst2 rte; those not in --tasks are skipped)",
    )
    p.add_argument(
        "--memory-task",
        metavar="TASK",
        help="the task (its batch and length) the memory stage trains each method on"
        " (default: rte)",
    )
    _common(p, "runs/reproduce")
    p.set_defaults(func=cmd_reproduce)

    p = verbs.add_parser("results-md", help=cmd_results_md.__doc__)
    p.add_argument("--results-dir", default="docs/results", help="default: docs/results")
    p.add_argument("--results-md", default="RESULTS.md", help="default: RESULTS.md")
    p.set_defaults(func=cmd_results_md)

    p = verbs.add_parser("refresh", help=cmd_refresh.__doc__)
    p.add_argument("--adapter", default=None, help="the single ahwa-lora run (else trained)")
    _common(p, "runs/refresh")
    p.set_defaults(func=cmd_refresh)
