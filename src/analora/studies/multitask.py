"""``analora study multitask``: one programmed chip, five GLUE tasks.

1. Program the packaged MiniLM once (``paper-pcm``, seed 0).
2. Train an ``ahwa-lora`` adapter and head for CoLA, SST-2, MRPC, RTE and
   STS-B against that chip (subsets sized for a 2-core machine).
3. Put the five adapters in one bank and sweep it on the same chips at every
   age, the five tasks' dev examples interleaved in mixed-task batches.
4. Sweep each task's adapter alone (``analora sweep``: single-task batches)
   on the same chips and ages.
5. Report per-task scores and the GLUE-style average for the bank beside the
   tasks alone, and the parameter accounting of one chip with five adapters
   against five separately trained and programmed models.

Adapters are trained one task at a time in both cases: an AHWA-LoRA adapter
trains against the shared programmed weights and never sees another task, so
"trained alone" and "trained for the bank" are the same seeded run. What
differs is the serving: mixed-task batches through one chip against one
task at a time, with other noise draws.

Every step is skipped when done and resumed when cut off.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analora.files import atomic_write_json, atomic_write_text
from analora.studies.common import (
    data_dir,
    glue_score,
    program_chip,
    say,
    sweep_step,
    train_step,
)

TASKS = ("cola", "sst2", "mrpc", "rte", "stsb")


@dataclass(frozen=True)
class MultitaskSizes:
    """Subsets sized for about half an hour on 2 CPU cores (``--fast``: a smoke test)."""

    train_examples: int = 1000
    eval_examples: int = 200
    max_length: int = 64
    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 32
    chips: int = 3
    times: tuple[str, ...] = ("0", "1d", "1y", "10y")


FAST = MultitaskSizes(
    train_examples=24, eval_examples=12, max_length=16, epochs=1, chips=2, times=("0", "1y")
)


def _cells_by_age(res: dict[str, Any]) -> dict[float, dict[int, dict[str, float]]]:
    out: dict[float, dict[int, dict[str, float]]] = {}
    for c in res["cells"]:
        out.setdefault(float(c["t_s"]), {})[int(c["chip_seed"])] = c["metrics"]
    return out


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def summarize(bank: dict[str, dict[str, Any]], alone: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per task and age: the GLUE score (mean of the task's metrics) of the
    bank and of the task alone, mean and std over chips, and their gap; the
    GLUE-style average over tasks the same way."""
    tasks = list(bank)
    ages = [float(t) for t in bank[tasks[0]]["times_s"]]
    per_task: dict[str, Any] = {}
    avg: dict[str, dict[float, dict[int, list[float]]]] = {"bank": {}, "alone": {}}
    for task in tasks:
        rows: dict[str, dict[float, dict[str, float]]] = {}
        for kind, res in (("bank", bank[task]), ("alone", alone[task])):
            cells = _cells_by_age(res)
            rows[kind] = {}
            for t in ages:
                scores = {seed: glue_score(m) for seed, m in sorted(cells[t].items())}
                rows[kind][t] = _stats(list(scores.values()))
                for seed, s in scores.items():
                    avg[kind].setdefault(t, {}).setdefault(seed, []).append(s)
        per_task[task] = {
            "bank": {repr(t): rows["bank"][t] for t in ages},
            "alone": {repr(t): rows["alone"][t] for t in ages},
            "gap": {repr(t): rows["bank"][t]["mean"] - rows["alone"][t]["mean"] for t in ages},
            "digital": {
                "bank": glue_score(bank[task]["digital"]),
                "alone": glue_score(alone[task]["digital"]),
            },
        }
    average = {
        kind: {repr(t): _stats([statistics.fmean(v) for v in avg[kind][t].values()]) for t in ages}
        for kind in avg
    }
    gaps = [abs(g) for row in per_task.values() for g in row["gap"].values()]
    by_chip = {  # the average's bank - alone on each chip (chips read both ways)
        repr(t): {
            str(seed): statistics.fmean(v) - statistics.fmean(avg["alone"][t][seed])
            for seed, v in avg["bank"][t].items()
            if seed in avg["alone"][t]
        }
        for t in ages
    }
    return {
        "ages_s": ages,
        "tasks": per_task,
        "glue_average": average,
        "average_gap_by_chip": by_chip,
        "max_abs_gap": max(gaps),
        "goal_abs_gap": 0.5,
        "goal_met": max(gaps) <= 0.5,
    }


def accounting(bank_dir: Path, chip_dir: Path) -> dict[str, Any]:
    """Parameters of one chip with the bank's adapters against one separately
    fine-tuned and programmed model per task (the chip's report and the
    adapters' own counts)."""
    chip = json.loads((chip_dir / "chip.json").read_text(encoding="utf-8"))
    record = json.loads((bank_dir / "bank.json").read_text(encoding="utf-8"))
    report = chip["report"]
    analog, tiles = int(report["analog_params"]), int(report["tiles"])
    hidden = int(report["layers"][-1]["in_features"])  # the pooler's width
    placeholder = 2 * hidden + 2  # the chip's model carried a 2-class head; tasks bring their own
    digital_shared = int(report["digital_params"]) - placeholder
    per_task = {
        n: {"lora": e["lora_params"], "head": e["head_params"]}
        for n, e in record["adapters"].items()
    }
    n = len(per_task)
    adapters = sum(v["lora"] + v["head"] for v in per_task.values())
    heads = sum(v["head"] for v in per_task.values())
    one_chip = {
        "analog_params": analog,
        "tiles": tiles,
        "digital_shared_params": digital_shared,
        "adapter_and_head_params": adapters,
        "total_params": analog + digital_shared + adapters,
        "programmed_models": 1,
    }
    separate = {
        "analog_params": n * analog,
        "tiles": n * tiles,
        "digital_shared_params": n * digital_shared,
        "adapter_and_head_params": heads,
        "total_params": n * (analog + digital_shared) + heads,
        "programmed_models": n,
    }
    return {
        "tasks": n,
        "per_task": per_task,
        "one_chip_with_adapters": one_chip,
        "separate_models": separate,
        "ratio_total_params": separate["total_params"] / one_chip["total_params"],
        "ratio_analog_params": separate["analog_params"] / one_chip["analog_params"],
        "note": (
            "separate models: each task fine-tuned in full (every analog and digital weight) "
            "and programmed on its own chip; heads as in the bank"
        ),
    }


def _markdown(summary: dict[str, Any], acct: dict[str, Any], sizes: MultitaskSizes) -> str:
    from analora.sweep.results import time_label

    ages = summary["ages_s"]
    head = "| task | serving | " + " | ".join(time_label(t) for t in ages) + " |"
    lines = [
        "# One chip, five GLUE tasks",
        "",
        f"MiniLM under paper-pcm; {sizes.train_examples} training and {sizes.eval_examples} dev "
        f"examples per task, at most {sizes.max_length} tokens, {sizes.epochs} epochs; "
        f"{sizes.chips} chips. Scores are GLUE scores (the mean of a task's metrics: MCC for "
        "CoLA, accuracy for SST-2 and RTE, F1 and accuracy for MRPC, Pearson and Spearman for "
        "STS-B), mean ± std over chips.",
        "",
        head,
        "|" + "---|" * (len(ages) + 2),
    ]
    for task, row in summary["tasks"].items():
        for kind, label in (("bank", "bank, mixed batches"), ("alone", "alone")):
            cells = " | ".join(
                f"{row[kind][repr(t)]['mean']:.2f} ± {row[kind][repr(t)]['std']:.2f}" for t in ages
            )
            lines.append(f"| {task} | {label} | {cells} |")
        gaps = " | ".join(f"{row['gap'][repr(t)]:+.2f}" for t in ages)
        lines.append(f"| {task} | gap | {gaps} |")
    for kind, label in (("bank", "bank, mixed batches"), ("alone", "alone")):
        cells = " | ".join(
            f"{summary['glue_average'][kind][repr(t)]['mean']:.2f} ± "
            f"{summary['glue_average'][kind][repr(t)]['std']:.2f}"
            for t in ages
        )
        lines.append(f"| **average** | {label} | {cells} |")
    verdict = "met" if summary["goal_met"] else "not met"
    lines += [
        "",
        f"Largest |bank - alone| gap: {summary['max_abs_gap']:.2f} points (goal 0.5: {verdict}).",
        "",
        "## Parameters",
        "",
        "| | one chip + adapters | one model per task |",
        "|---|---|---|",
    ]
    one, sep = acct["one_chip_with_adapters"], acct["separate_models"]
    for key, label in (
        ("analog_params", "analog parameters (programmed)"),
        ("tiles", "tiles"),
        ("digital_shared_params", "digital parameters (embeddings, norms, biases, ...)"),
        ("adapter_and_head_params", "adapter + head parameters"),
        ("total_params", "total"),
        ("programmed_models", "models programmed"),
    ):
        lines.append(f"| {label} | {one[key]:,} | {sep[key]:,} |")
    lines += ["", "| task | LoRA | head |", "|---|---|---|"]
    for task, v in acct["per_task"].items():
        lines.append(f"| {task} | {v['lora']:,} | {v['head']:,} |")
    lines.append("")
    return "\n".join(lines)


def run_multitask(
    out_dir: str | Path, data_dir_: str | None = None, fast: bool = False
) -> dict[str, Any]:
    """Five GLUE tasks on one chip (a bank, mixed batches) against each task
    alone; writes ``multitask.json`` and ``multitask.md`` and returns the summary."""
    from analora.tasks import load_task

    sizes = FAST if fast else MultitaskSizes()
    found = data_dir(data_dir_)
    for task in TASKS:  # fail now, not after an hour
        load_task(task, splits=["validation"], data_dir=found)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    say(
        f"analora study multitask: MiniLM, {', '.join(TASKS)}; {sizes.train_examples} training "
        f"and {sizes.eval_examples} dev examples per task, at most {sizes.max_length} tokens; "
        f"{sizes.chips} chips x {len(sizes.times)} ages; output in {out}"
    )
    chip_dir = out / "chip"
    program_chip(chip_dir)
    for task in TASKS:
        say(f"[train] {task}")
        train_step(task, _spec(sizes, task, chip_dir), out / "train" / task, found)
    bank_dir = out / "bank"
    bank_res, alone_res = _sweeps(out, bank_dir, sizes, found)
    summary = summarize(bank_res, alone_res)
    acct = accounting(bank_dir, chip_dir)
    text = _markdown(summary, acct, sizes)
    record = {"sizes": asdict(sizes), "data_dir": found, "summary": summary, "parameters": acct}
    atomic_write_json(out / "multitask.json", record)
    atomic_write_text(out / "multitask.md", text)
    say(text)
    took = time.perf_counter() - started
    say(f"study finished in {took:.0f} s; summary in {out / 'multitask.md'}")
    return record


def _spec(sizes: MultitaskSizes, task: str, chip_dir: Path) -> Any:
    from analora.workflows import RunSpec

    return RunSpec(
        method="ahwa-lora",
        model="minilm",
        chip=str(chip_dir),
        task=task,
        seed=0,
        max_train_examples=sizes.train_examples,
        max_eval_examples=sizes.eval_examples,
        max_length=sizes.max_length,
        epochs=sizes.epochs,
        lr=sizes.lr,
        batch_size=sizes.batch_size,
    )


def _sweeps(
    out: Path, bank_dir: Path, sizes: MultitaskSizes, found: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bank in mixed batches and each task alone, on the same chips and ages."""
    from analora.bank import add_to_bank
    from analora.bank.sweep import sweep_bank
    from analora.sweep.results import parse_ages
    from analora.sweep.runner import SweepConfig
    from analora.workflows import build_report

    held = set()
    if (bank_dir / "bank.json").is_file():
        held = set(json.loads((bank_dir / "bank.json").read_text(encoding="utf-8"))["adapters"])
    for task in TASKS:
        if task not in held:
            add_to_bank(bank_dir, out / "train" / task)
    say(f"[sweep] the bank: {len(TASKS)} tasks in mixed batches")
    config = SweepConfig(chips=sizes.chips, times_s=parse_ages(list(sizes.times)))
    bank_res = sweep_bank(bank_dir, out / "sweeps" / "bank", config, data_dir=found)
    alone_res = {}
    for task in TASKS:
        say(f"[sweep] {task} alone")
        alone_res[task] = sweep_step(
            out / "train" / task, out / "sweeps" / "alone" / task,
            chips=sizes.chips, times=sizes.times, data_dir_=found,
        )  # fmt: skip
    say("[report]")
    paths = [str(out / "sweeps" / k / t) for t in TASKS for k in ("alone", "bank")]
    build_report(paths, out / "report")
    return {t: bank_res[t] for t in TASKS}, alone_res
