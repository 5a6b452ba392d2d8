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
6. With ``on_chip_age`` set, a fourth series: the retrained adapter trained
   on further on each chip itself, read at that age under the new converters
   (``chip-lora``: the chip in the loop, one adapter per chip), then read at
   every age. Step 3 sees Gaussian weight noise only; this series sees the
   aged chip, its shrunken conductances and the new converters together.
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
    on_chip_age: str | None = None
    """Also retrain on each chip at this age (e.g. ``10y``; None: not)."""
    on_chip_examples: int = 1000
    on_chip_epochs: int = 1
    on_chip_lr: float | None = 5e-4


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
ON_CHIP = "retrained on chip"
ON_CHIP_READ_INDEX = 1
"""The on-chip series is read with another read index than its training
read (fresh read noise at the training age, as a later read would have)."""


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
    from analora.training.methods import evaluate_classification

    _, spec, old_hw, data = run_eval_data(old_run, data_dir_, max_eval_examples)
    cells: dict[str, list[dict[str, Any]]] = {s: [] for s in SERIES}
    chips: dict[str, dict[str, Any]] = {}
    for seed in seeds:
        base, _ = _base_model(old_run, device)
        convert(base, old_hw, exclude=["classifier"])
        chip = program(base, seed=seed)
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
    if sizes.on_chip_age is not None:
        evals = _on_chip(out, sizes, record["task"], new_run, hw_file, base_hw, new_hw, seeds,
                         times, evals, found, device)  # fmt: skip
    series = _write_series(out, evals, change, base_hw, new_hw, seeds, times)
    summary = _summary(evals, change, base_hw, new_hw, series, times, sizes)
    atomic_write_json(out / "readapt.json", summary)
    text = _markdown(summary, series, times)
    atomic_write_text(out / "readapt.md", text)
    from analora.workflows import build_report

    build_report([str(out / "sweeps" / s.replace(" ", "-")) for s in series], out / "report")
    say(text)
    say(f"study finished in {time.perf_counter() - started:.0f} s; summary in {out / 'readapt.md'}")
    return summary


def _on_chip(
    out: Path,
    sizes: ReadaptSizes,
    task: str,
    new_run: Path,
    hw_file: Path,
    old_hw: Any,
    new_hw: Any,
    seeds: list[int],
    times: list[float],
    evals: dict[str, Any],
    data_dir_: str | None,
    device: str,
) -> dict[str, Any]:
    """Step 6: one ``chip-lora`` adapter per chip, trained at ``on_chip_age``
    under the new converters from the retrained adapter, read at every age.
    Each chip is the one of steps 4-5 (programmed under the old hardware,
    then switched to the new periphery), saved under ``out/chips``."""
    from analora.training.deployment import read_deployment
    from analora.workflows import RunSpec

    assert sizes.on_chip_age is not None
    model = read_deployment(new_run)["model"]["path"]  # the chips' pretrained model
    age_s = parse_ages([sizes.on_chip_age])[0]
    path = out / "evaluations-on-chip.json"
    done = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if done.get("age_s") != age_s or sorted(done.get("seeds", [])) != sorted(seeds):
        runs = {}
        for seed in seeds:
            chip_dir = out / "chips" / f"chip{seed}"
            _changed_chip(new_run, old_hw, new_hw, seed, chip_dir, device)
            say(f"[retrain on chip] chip {seed} at {sizes.on_chip_age}")
            spec = RunSpec(
                method="chip-lora", model=model, task=task, seed=0, chip=str(chip_dir),
                hardware=str(hw_file), chip_age_s=age_s, init_adapter=str(new_run),
                epochs=sizes.on_chip_epochs, max_train_examples=sizes.on_chip_examples,
                max_eval_examples=sizes.eval_examples, max_length=sizes.max_length,
                lr=sizes.on_chip_lr, batch_size=sizes.batch_size,
            )  # fmt: skip
            runs[seed] = out / "on-chip" / f"chip{seed}"
            train_step(f"on chip {seed}", spec, runs[seed], data_dir_, device)
        say(f"[sweep] {len(seeds)} chips x {len(times)} ages, each chip's own adapter")
        cells = evaluate_on_chip(runs, out / "chips", times, data_dir_, sizes.eval_examples,
                                 device)  # fmt: skip
        done = {"age_s": age_s, "seeds": seeds, **cells}
        atomic_write_json(path, done)
    else:
        say(f"[sweep] on-chip retraining done already in {path}; reusing it")
    merged = {**evals, "cells": {**evals["cells"], ON_CHIP: done["cells"]}}
    chips = {k: dict(v) for k, v in evals["chips"].items()}
    for seed, fp in done["state_fingerprint_end"].items():
        same = fp == chips[seed]["state_fingerprint_programmed"]
        chips[seed]["state_fingerprint_end_on_chip"] = fp
        chips[seed]["analog_writes"] = 0 if same and chips[seed]["analog_writes"] == 0 else None
    merged["chips"] = chips
    merged["on_chip_age_s"] = age_s
    return merged


def _base_model(run: Path, device: str) -> tuple[Any, Any]:
    """The run's pretrained model with its head and pooling, on ``device``,
    and the run's deployment record."""
    from analora.models import load_model
    from analora.tasks import get_task
    from analora.training.deployment import read_deployment
    from analora.training.pooling import apply_pooling

    record = read_deployment(run)
    spec = get_task(record["task"])
    base = load_model(record["model"]["path"], spec.model_class, num_labels=spec.num_labels)
    apply_pooling(base, run_pooling(run))
    return base.to(device), record


def _changed_chip(
    run: Path, old_hw: Any, new_hw: Any, seed: int, chip_dir: Path, device: str
) -> Path:
    """Chip ``seed`` programmed under ``old_hw``, switched to ``new_hw`` (no
    device written) and saved, once."""
    from analora.analog import convert, program, save_chip
    from analora.analog.chip_files import is_chip_dir

    if is_chip_dir(chip_dir):
        return chip_dir
    base, _ = _base_model(run, device)
    convert(base, old_hw, exclude=["classifier"])
    save_chip(program(base, seed=seed).with_periphery(new_hw), chip_dir)
    return chip_dir


def evaluate_on_chip(
    runs: dict[int, Path],
    chips_dir: Path,
    times_s: list[float],
    data_dir_: str | None,
    max_eval_examples: int | None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Each saved chip with its own adapter at every age (read index
    :data:`ON_CHIP_READ_INDEX`); its state fingerprint after the last read."""
    from analora.adapters import load_adapter
    from analora.analog import load_chip
    from analora.training.methods import evaluate_classification

    cells: list[dict[str, Any]] = []
    ends: dict[str, str] = {}
    # one task, length and seed for every chip's run: tokenise the dev set once
    _, spec, _, data = run_eval_data(next(iter(runs.values())), data_dir_, max_eval_examples)
    for seed, run in runs.items():
        base, _ = _base_model(run, device)
        chip = load_chip(chips_dir / f"chip{seed}", base)
        model = load_adapter(base, run / "adapter", chip=chip)
        for t in times_s:
            chip.read(t, ON_CHIP_READ_INDEX)
            metrics = evaluate_classification(model, spec.name, data)
            cells.append({"chip_seed": seed, "t_s": t, "metrics": metrics})
        chip.use_target()
        ends[str(seed)] = chip.state_fingerprint()
    return {"cells": cells, "state_fingerprint_end": ends}


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


def _names(evals: dict[str, Any]) -> tuple[str, ...]:
    return SERIES + ((ON_CHIP,) if ON_CHIP in evals["cells"] else ())


def _write_series(
    out: Path, evals: dict, change: list[str], base_hw: Any, new_hw: Any, seeds: list, times: list
) -> dict[str, dict[float, Any]]:
    labels = {
        "before": f"{base_hw.name}, adapter as trained",
        "after change": f"{new_hw.name}, same adapter",
        "retrained": f"{new_hw.name}, adapter retrained",
        ON_CHIP: f"{new_hw.name}, adapter retrained on each chip",
    }
    series: dict[str, dict[float, Any]] = {}
    for name in _names(evals):
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
            read_index=ON_CHIP_READ_INDEX if name == ON_CHIP else 0,
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
        row = {
            "t_s": t,
            "before": b,
            "after_change": a,
            "retrained": r,
            "recovery": recovery(b, a, r),
        }
        if ON_CHIP in series:
            c = series[ON_CHIP][t]["mean"]
            row.update(retrained_on_chip=c, recovery_on_chip=recovery(b, a, c))
        rows.append(row)
    return {
        "on_chip_age_s": evals.get("on_chip_age_s"),
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
    for name in series:
        cells = " | ".join(
            f"{series[name][t]['mean']:.2f} ± {series[name][t]['std']:.2f}" for t in times
        )
        lines.append(f"| {name} | {cells} |")
    for key, label in (("recovery", "recovery"), ("recovery_on_chip", "recovery on chip")):
        if key not in summary["rows"][0]:
            continue
        rec = " | ".join(
            f"n/a (lost < {MIN_LOSS:g})" if r[key] is None else f"{100 * r[key]:.0f} %"
            for r in summary["rows"]
        )
        lines.append(f"| {label} | {rec} |")
    same = all(
        c["state_fingerprint_programmed"]
        == c["state_fingerprint_end"]
        == c.get("state_fingerprint_end_on_chip", c["state_fingerprint_end"])
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
