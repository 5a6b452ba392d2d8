"""Helpers the demo and the studies share: skip or resume a finished or
cut-off training or sweep step (through the workflow functions), find the
GLUE data, and read the mean of a metric from a results file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError


def say(text: str) -> None:
    print(text, flush=True)


def train_step(name: str, spec: Any, out: Path, data_dir_: str | None, device: str = "cpu") -> Any:
    """:func:`~analora.workflows.train_run` on ``device`` unless ``out`` holds
    a finished run; resume a cut one. Returns the run (None when it was reused)."""
    from analora.workflows import train_run
    from analora.workflows.train import changed_settings

    if (out / "deployment.json").is_file():
        changed = changed_settings(spec, out)
        if changed:
            raise AnaloraError(
                f"{out} holds a finished {name} run with other settings "
                f"({', '.join(changed)}): rerun the study with the settings it was trained "
                "with, or delete that run to train it again"
            )
        say(f"[{name}] done already in {out}; reusing it")
        return None
    resume = (out / "run.json").is_file()
    if resume:
        say(f"[{name}] resuming the run in {out}")
    return train_run(spec, out, data_dir=data_dir_, resume=resume, device=device)


def sweep_step(
    deployment: Path,
    out: Path,
    *,
    chips: int,
    times: tuple[str, ...] | tuple[float, ...] | None,
    data_dir_: str | None,
    first_chip_seed: int = 1000,
    max_eval_examples: int | None = None,
    device: str = "cpu",
    read_index: int = 0,
) -> dict[str, Any]:
    """:func:`~analora.workflows.sweep_run` of a run directory on ``device`` (resumable)."""
    from analora.sweep.results import parse_ages
    from analora.workflows import SweepSpec, sweep_run

    ages = parse_ages([str(t) for t in times]) if times else parse_ages(None)
    spec = SweepSpec(
        deployment=deployment,
        chips=chips,
        times_s=ages,
        first_chip_seed=first_chip_seed,
        max_eval_examples=max_eval_examples,
        read_index=read_index,
    )
    return sweep_run(spec, out, data_dir=data_dir_, device=device)


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
    from analora.workflows import program_chip as program

    if (chip_dir / "chip.json").is_file():
        say(f"[chip] programmed already in {chip_dir}; reusing it")
        return
    say(f"[chip] programming MiniLM onto a {hardware} chip (seed {seed})")
    program(
        "minilm",
        chip_dir,
        hardware=hardware,
        seed=seed,
        model_class="sequence-classification",
        exclude=["classifier"],
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


def run_eval_data(
    run_dir: Path, data_dir_: str | None, max_eval_examples: int | None
) -> tuple[dict[str, Any], Any, Any, Any]:
    """(deployment record, task spec, hardware config, dev tensors) of an
    adapter run, the dev subset tokenised as the run did (length, seed)."""
    import json

    from analora.hardware import HardwareConfig
    from analora.models import resolve
    from analora.tasks import get_task
    from analora.training.data import task_inputs
    from analora.training.deployment import read_deployment

    record = read_deployment(run_dir)
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    spec = get_task(record["task"])
    inputs = task_inputs(
        spec.name,
        resolve(record["model"]["path"]),
        data_dir=data_dir_,
        max_eval_examples=max_eval_examples,
        max_length=run.get("max_length"),
        seed=int(run.get("seed", 0)),
        with_train=False,
    )
    return record, spec, HardwareConfig.from_dict(record["hardware"]), inputs.evaluation


def run_pooling(run_dir: Path) -> str:
    """The pooling a run's classification head was trained with."""
    import json

    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return str(run.get("pooling") or "cls")


def series_results(
    out_dir: Path,
    *,
    method: str,
    label: str,
    task: str,
    metric: str,
    times_s: list[float],
    chip_seeds: list[int],
    cells: list[dict[str, Any]],
    configs: dict[str, Any],
    read_index: int = 0,
) -> dict[float, dict[str, float]]:
    """Write one study series as an ``analora-results/1`` file (no digital
    reference) and return ``metric``'s aggregate at each age."""
    from analora.sweep.engine import Results

    record = Results(
        method=method,
        label=label,
        task=task,
        eval_split="validation",
        primary_metric=metric,
        digital={},
        cells=cells,
        times_s=times_s,
        chip_seeds=chip_seeds,
        read_index=read_index,
        configs=configs,
    ).write(out_dir)
    aggregates = record["aggregates"]
    return {float(a["t_s"]): a["metrics"][metric] for a in aggregates}
