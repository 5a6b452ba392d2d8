"""``analora study readapt``: a hardware change absorbed by adapters alone
(the paper's 8-bit to 6-bit converter experiment, Li et al., arXiv
2411.17367: 10-year F1 fell to 60.81 at 6 bits and came back to 74.23 after
retraining the adapters only, with no analog reprogramming).

1. An ``ahwa-lora`` adapter trained under ``paper-pcm`` (``--adapter RUN``,
   else trained here).
2. The changed constraint: ``--set`` overrides of the converters or the
   periphery (default ``converters.dac_bits=6 converters.adc_bits=6``; also
   e.g. ``periphery.output_noise_std=0.08`` or ``converters.output_bound=6``).
3. The adapter retrained under the new constraint, warm-started from the old
   one (``analora train --init-adapter``); the analog weights are not touched.
4. On each chip (programmed once, under ``paper-pcm``) and at each age:
   the old adapter before the change; the old adapter after it
   (:meth:`~analora.analog.chip.Chip.with_periphery`); the retrained adapter
   after it. The chip's state fingerprint is taken after programming and
   again after the last evaluation: equal fingerprints prove that no device
   was written.
5. Recovery at each age: (retrained - after change) / (before - after change),
   the share of the lost score won back.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_json, atomic_write_text
from analora.studies.common import (
    data_dir,
    run_eval_data,
    run_pooling,
    say,
    series_results,
    train_step,
)
from analora.sweep.results import parse_ages

DEFAULT_CHANGE = ("converters.dac_bits=6", "converters.adc_bits=6")


@dataclass(frozen=True)
class ReadaptSizes:
    """Subsets sized for a 2-core machine (``--fast``: a smoke test)."""

    task: str = "sst2"
    train_examples: int | None = 1000
    eval_examples: int | None = 300
    max_length: int | None = 64
    epochs: int = 3
    retrain_epochs: int = 2
    lr: float | None = 2e-3
    """None: the task's recipe (as are the other None values: the full split)."""
    batch_size: int | None = 32
    chips: int = 3
    first_chip_seed: int = 1000
    times: tuple[str, ...] = ("0", "1d", "1y", "10y")


FAST = ReadaptSizes(
    train_examples=24,
    eval_examples=16,
    max_length=16,
    epochs=1,
    retrain_epochs=1,
    chips=2,
    times=("0", "1y"),
)

SERIES = ("before", "after change", "retrained")


MIN_LOSS = 1.0
"""Points: below this loss the share won back is noise, and is not reported."""


def recovery(
    before: float, after: float, retrained: float, min_loss: float = MIN_LOSS
) -> float | None:
    """Share of the score lost to a change that retraining won back:
    (retrained - after) / (before - after); None when less than ``min_loss``
    points were lost (a ratio of two small differences of noisy means)."""
    lost = before - after
    return None if lost < min_loss else (retrained - after) / lost


def _train_spec(sizes: ReadaptSizes, task: str, epochs: int, **extra: Any) -> Any:
    from analora.workflows import RunSpec

    return RunSpec(
        method="ahwa-lora",
        model="minilm",
        task=task,
        seed=0,
        epochs=epochs,
        max_train_examples=sizes.train_examples,
        max_eval_examples=sizes.eval_examples,
        max_length=sizes.max_length,
        lr=sizes.lr,
        batch_size=sizes.batch_size,
        **extra,
    )


def evaluate_series(
    old_run: Path,
    new_run: Path,
    new_hardware: Any,
    seeds: list[int],
    times_s: list[float],
    data_dir_: str | None,
    max_eval_examples: int | None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Every chip and age for the three series (on ``device``); fingerprints
    before and after."""
    from analora.adapters import load_adapter
    from analora.analog import convert, program
    from analora.models import load_model
    from analora.training.methods import evaluate_classification
    from analora.training.pooling import apply_pooling

    record, spec, old_hw, data = run_eval_data(old_run, data_dir_, max_eval_examples)
    pooling = run_pooling(old_run)
    cells: dict[str, list[dict[str, Any]]] = {s: [] for s in SERIES}
    chips: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        base = load_model(record["model"]["path"], spec.model_class, num_labels=spec.num_labels)
        apply_pooling(base, pooling)
        convert(base, old_hw, exclude=["classifier"])
        chip = program(base.to(device), seed=seed)
        programmed = chip.state_fingerprint()
        model = load_adapter(base, old_run / "adapter")
        for t in times_s:
            chip.read(t)
            cells["before"].append(
                {
                    "chip_seed": seed,
                    "t_s": t,
                    "metrics": evaluate_classification(model, spec.name, data),
                }
            )
        changed = chip.with_periphery(new_hardware)
        for t in times_s:
            changed.read(t)
            cells["after change"].append(
                {
                    "chip_seed": seed,
                    "t_s": t,
                    "metrics": evaluate_classification(model, spec.name, data),
                }
            )
        base = model.unload()  # the same chip object: the old adapter off, the new one on
        model = load_adapter(base, new_run / "adapter")
        for t in times_s:
            changed.read(t)
            cells["retrained"].append(
                {
                    "chip_seed": seed,
                    "t_s": t,
                    "metrics": evaluate_classification(model, spec.name, data),
                }
            )
        changed.use_target()
        chips[str(seed)] = {
            "state_fingerprint_programmed": programmed,
            "state_fingerprint_end": changed.state_fingerprint(),
            "analog_writes": 0 if changed.state_fingerprint() == programmed else None,
            "fingerprint_before": chip.fingerprint(),
            "fingerprint_after": changed.fingerprint(),
        }
    return {
        "task": spec.name,
        "primary_metric": spec.primary_metric,
        "cells": cells,
        "chips": chips,
    }


def run_readapt(
    out_dir: str | Path,
    data_dir_: str | None = None,
    adapter: str | Path | None = None,
    change: list[str] | None = None,
    fast: bool = False,
    sizes: ReadaptSizes | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Change the converters (or another periphery constraint) of programmed
    chips and re-adapt by retraining the adapters only (on ``device``);
    returns the summary."""
    sizes = sizes or (FAST if fast else ReadaptSizes())
    found = data_dir(data_dir_)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    change = list(change or DEFAULT_CHANGE)
    old_run = Path(adapter) if adapter else out / "before"
    if adapter is None:
        say(f"[train] {sizes.task} under paper-pcm")
        spec = _train_spec(sizes, sizes.task, sizes.epochs)
        train_step("before", spec, old_run, found, device)
    record, base_hw, new_hw, hw_file = _changed_hardware(old_run, change, out)
    say(f"[change] {', '.join(change)} (hardware {new_hw.name})")
    new_run = out / "retrained"
    say("[retrain] the adapter only, warm-started from the old one")
    spec = _train_spec(
        sizes, record["task"], sizes.retrain_epochs, hardware=str(hw_file),
        init_adapter=str(old_run),
    )  # fmt: skip
    train_step("retrain", spec, new_run, found, device)
    seeds = [sizes.first_chip_seed + i for i in range(sizes.chips)]
    times = list(parse_ages(list(sizes.times)))
    evals_path = out / "evaluations.json"
    if evals_path.is_file():
        evals = json.loads(evals_path.read_text(encoding="utf-8"))
        say(f"[sweep] done already in {evals_path}; reusing it")
    else:
        say(f"[sweep] {len(seeds)} chips x {len(times)} ages x 3 series")
        evals = evaluate_series(
            old_run, new_run, new_hw, seeds, times, found, sizes.eval_examples, device
        )
        atomic_write_json(evals_path, evals)
    series = _write_series(out, evals, change, base_hw, new_hw, seeds, times)
    summary = _summary(evals, change, base_hw, new_hw, series, times, sizes)
    atomic_write_json(out / "readapt.json", summary)
    text = _markdown(summary, series, times)
    atomic_write_text(out / "readapt.md", text)
    from analora.workflows import build_report

    build_report([str(out / "sweeps" / s.replace(" ", "-")) for s in SERIES], out / "report")
    say(text)
    say(f"study finished in {time.perf_counter() - started:.0f} s; summary in {out / 'readapt.md'}")
    return summary


def _changed_hardware(old_run: Path, change: list[str], out: Path) -> tuple[Any, Any, Any, Path]:
    from analora.hardware import HardwareConfig
    from analora.hardware.config import parse_assignments
    from analora.training.deployment import read_deployment

    record = read_deployment(old_run)
    if record.get("method") != "ahwa-lora":
        raise AnaloraError(
            f"--adapter {old_run} is a {record.get('method')} run: pass an ahwa-lora run"
        )
    base_hw = HardwareConfig.from_dict(record["hardware"])
    label = ",".join(c.split(".")[-1] for c in change)
    new_hw = base_hw.with_overrides(parse_assignments(change), name=f"{base_hw.name}[{label}]")
    hw_file = out / "hardware-new.json"
    atomic_write_json(hw_file, new_hw.to_dict())
    return record, base_hw, new_hw, hw_file


def _write_series(
    out: Path, evals: dict, change: list[str], base_hw: Any, new_hw: Any, seeds: list, times: list
) -> dict[str, dict[float, Any]]:
    labels = {
        "before": f"{base_hw.name}, adapter as trained",
        "after change": f"{new_hw.name}, same adapter",
        "retrained": f"{new_hw.name}, adapter retrained",
    }
    series: dict[str, dict[float, Any]] = {}
    for name in SERIES:
        series[name] = series_results(
            out / "sweeps" / name.replace(" ", "-"),
            method="ahwa-lora",
            label=labels[name],
            task=evals["task"],
            metric=evals["primary_metric"],
            times_s=times,
            chip_seeds=seeds,
            cells=evals["cells"][name],
            configs={"change": change, "hardware_new": new_hw.to_dict(), "chips": evals["chips"]},
        )
    return series


def _summary(
    evals: dict,
    change: list[str],
    base_hw: Any,
    new_hw: Any,
    series: dict[str, dict[float, Any]],
    times: list[float],
    sizes: ReadaptSizes,
) -> dict[str, Any]:
    rows = []
    for t in times:
        b, a, r = (series[s][t]["mean"] for s in SERIES)
        rows.append(
            {
                "t_s": t,
                "before": b,
                "after_change": a,
                "retrained": r,
                "recovery": recovery(b, a, r),
            }
        )
    return {
        "task": evals["task"],
        "metric": evals["primary_metric"],
        "change": change,
        "hardware_before": base_hw.name,
        "hardware_after": new_hw.name,
        "rows": rows,
        "chips": evals["chips"],
        "analog_writes": {seed: c["analog_writes"] for seed, c in evals["chips"].items()},
        "sizes": asdict(sizes),
        "paper": {
            "metric": "squad f1",
            "before_10y": 85.36,
            "after_change_10y": 60.81,
            "retrained_10y": 74.23,
        },
    }


def _markdown(summary: dict[str, Any], series: dict[str, Any], times: list[float]) -> str:
    from analora.sweep.results import time_label

    lines = [
        f"# Re-adaptation: {summary['hardware_before']} -> {summary['hardware_after']}",
        "",
        f"{summary['task']}, {summary['metric']}, mean ± std over "
        f"{len(summary['chips'])} chips; change: {', '.join(summary['change'])}.",
        "",
        "| series | " + " | ".join(time_label(t) for t in times) + " |",
        "|" + "---|" * (len(times) + 1),
    ]
    for name in SERIES:
        cells = " | ".join(
            f"{series[name][t]['mean']:.2f} ± {series[name][t]['std']:.2f}" for t in times
        )
        lines.append(f"| {name} | {cells} |")
    rec = " | ".join(
        f"n/a (lost < {MIN_LOSS:g})" if r["recovery"] is None else f"{100 * r['recovery']:.0f} %"
        for r in summary["rows"]
    )
    lines.append(f"| recovery | {rec} |")
    same = all(
        c["state_fingerprint_programmed"] == c["state_fingerprint_end"]
        for c in summary["chips"].values()
    )
    lines += [
        "",
        "Analog writes after programming: "
        + (
            "0 on every chip (state fingerprint unchanged)"
            if same
            else "NOT zero: fingerprints differ"
        ),
        "",
        "| chip | state fingerprint after programming | after the change, retraining and sweeps |",
        "|---|---|---|",
    ]
    for seed, c in summary["chips"].items():
        before, end = c["state_fingerprint_programmed"][:16], c["state_fingerprint_end"][:16]
        lines.append(f"| {seed} | {before} | {end} |")
    lines.append("")
    return "\n".join(lines)
