"""Helpers the demo and the studies share: run a CLI verb in-process, skip
or resume a finished or cut-off training step, find the GLUE data, and read
the mean of a metric from a results file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError


def say(text: str) -> None:
    print(text, flush=True)


def run_cli(argv: list[str]) -> None:
    """Run one ``analora`` verb in this process (errors propagate)."""
    from analora.cli import build_parser

    args = build_parser().parse_args(argv)
    args.func(args)


def train_step(name: str, argv: list[str], out: Path) -> None:
    """``analora train`` unless ``out`` holds a finished run; resume a cut one."""
    if (out / "deployment.json").is_file():
        say(f"[{name}] done already in {out}; reusing it")
        return
    resume = ["--resume"] if (out / "run.json").is_file() else []
    if resume:
        say(f"[{name}] resuming the run in {out}")
    run_cli([*argv, *resume])


def data_dir(arg: str | None, task: str = "SST-2") -> str | None:
    """``--data-dir``, else ``ANALORA_DATA_DIR``; with neither and no Hub, a one-line error."""
    from analora.hub import hub_reachable
    from analora.tasks.sources import DATA_DIR_ENV

    found = arg or os.environ.get(DATA_DIR_ENV)
    if found is None and not hub_reachable():
        raise AnaloraError(
            "the Hugging Face Hub is unreachable and no GLUE data was given: pass --data-dir DIR "
            f"(a folder holding glue/{task} or {task}) or set {DATA_DIR_ENV}"
        )
    return found


def program_chip(chip_dir: Path, seed: int = 0, hardware: str = "paper-pcm") -> None:
    """Program the packaged MiniLM (sequence classification, head digital) once."""
    if (chip_dir / "chip.json").is_file():
        say(f"[chip] programmed already in {chip_dir}; reusing it")
        return
    say(f"[chip] programming MiniLM onto a {hardware} chip (seed {seed})")
    run_cli(
        [
            "chip",
            "program",
            "--model",
            "minilm",
            "--model-class",
            "sequence-classification",
            "--hardware",
            hardware,
            "--seed",
            str(seed),
            "--exclude",
            "classifier",
            "--out",
            str(chip_dir),
            "--quiet",
        ]
    )


def mean_at(results: dict[str, Any], metric: str) -> dict[float, tuple[float, float]]:
    """{age: (mean, std)} of ``metric`` in a results record."""
    return {
        float(a["t_s"]): (a["metrics"][metric]["mean"], a["metrics"][metric]["std"])
        for a in results["aggregates"]
    }


def glue_score(metrics: dict[str, float]) -> float:
    """A task's GLUE score: the mean of its metrics (MRPC: F1 and accuracy;
    STS-B: Pearson and Spearman; the others have one), as the GLUE
    benchmark averages them (Wang et al., ICLR 2019)."""
    return sum(metrics.values()) / len(metrics)
