"""``analora study refresh``: adapters refreshed as the chip ages (named as
future work by Li et al., arXiv 2411.17367: "adapters refreshed as devices
drift").

1. A single ``ahwa-lora`` adapter (``--adapter RUN``, else trained here).
2. For each chip and each age band (default 1 h, 1 w, 1 y): a copy of that
   adapter fine-tuned against the chip read at the band's start
   (``chip-lora`` with ``--chip-age-s`` and ``--init-adapter``), so it is
   calibrated to that chip at that age.
3. Every chip is programmed once and read at every age with read index 1,
   never the read the band adapters were trained on (index 0): a refreshed
   adapter meets fresh read noise, as it would in the field. At each age the
   single adapter and the band adapter picked by the chip's age
   (:func:`~analora.adapters.bank.pick_for_age`; before the first band, the
   single adapter) are evaluated on the same read.
4. Reported: both series, the 10-year score against the 0-second score (the
   goal: within 1 point with refreshed adapters), the extra storage (band
   adapters per chip) and the extra training (steps and seconds).
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
from analora.sweep.results import parse_age

READ_INDEX = 1
SERIES = ("single adapter", "refreshed by age")


@dataclass(frozen=True)
class RefreshSizes:
    """Subsets sized for a 2-core machine (``--fast``: a smoke test)."""

    task: str = "sst2"
    train_examples: int = 1000
    refresh_examples: int = 500
    eval_examples: int = 300
    max_length: int = 64
    epochs: int = 3
    refresh_epochs: int = 1
    lr: float = 2e-3
    refresh_lr: float = 5e-4
    batch_size: int = 32
    chips: int = 2
    first_chip_seed: int = 1000
    bands: tuple[str, ...] = ("1h", "1w", "1y")
    times: tuple[str, ...] = ("0", "1h", "1d", "1w", "30d", "1y", "10y")


FAST = RefreshSizes(
    train_examples=24,
    refresh_examples=16,
    eval_examples=16,
    max_length=16,
    epochs=1,
    chips=1,
    bands=("1h", "1y"),
    times=("0", "1d", "10y"),
)


def _spec(sizes: RefreshSizes, task: str, method: str, **extra: Any) -> Any:
    from analora.workflows import RunSpec

    return RunSpec(
        method=method,
        model="minilm",
        task=task,
        seed=0,
        max_eval_examples=sizes.eval_examples,
        max_length=sizes.max_length,
        batch_size=sizes.batch_size,
        **extra,
    )


def run_refresh(
    out_dir: str | Path,
    data_dir_: str | None = None,
    adapter: str | Path | None = None,
    fast: bool = False,
) -> dict[str, Any]:
    """Fine-tune adapters for chip age bands and pick them by age; compare
    with one adapter for the chip's whole life. Returns the summary."""
    from analora.training.deployment import read_deployment

    sizes = FAST if fast else RefreshSizes()
    found = data_dir(data_dir_)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    single = Path(adapter) if adapter else out / "single"
    if adapter is None:
        say(f"[train] the single {sizes.task} adapter")
        spec = _spec(
            sizes, sizes.task, "ahwa-lora", max_train_examples=sizes.train_examples,
            epochs=sizes.epochs, lr=sizes.lr,
        )  # fmt: skip
        train_step("single", spec, single, found)
    record = read_deployment(single)
    if record.get("method") != "ahwa-lora":
        raise AnaloraError(
            f"--adapter {single} is a {record.get('method')} run: pass an ahwa-lora run"
        )
    seeds = [sizes.first_chip_seed + i for i in range(sizes.chips)]
    bands = {parse_age(b): b for b in sizes.bands}
    timings = _train_bands(out, single, record["task"], seeds, bands, sizes, found)
    times = [parse_age(t) for t in sizes.times]
    evals_path = out / "evaluations.json"
    if evals_path.is_file():
        evals = json.loads(evals_path.read_text(encoding="utf-8"))
        say(f"[sweep] done already in {evals_path}; reusing it")
    else:
        say(f"[sweep] {len(seeds)} chips x {len(times)} ages, single and refreshed")
        evals = evaluate(single, out / "bands", seeds, bands, times, found, sizes.eval_examples)
        atomic_write_json(evals_path, evals)
    summary = _summarize(evals, single, out, seeds, bands, times, timings, sizes)
    atomic_write_json(out / "refresh.json", summary)
    text = _markdown(summary, times)
    atomic_write_text(out / "refresh.md", text)
    from analora.workflows import build_report

    build_report([str(out / "sweeps" / s.replace(" ", "-")) for s in SERIES], out / "report")
    say(text)
    say(f"study finished in {time.perf_counter() - started:.0f} s; summary in {out / 'refresh.md'}")
    return summary


def _train_bands(
    out: Path,
    single: Path,
    task: str,
    seeds: list[int],
    bands: dict[float, str],
    sizes: RefreshSizes,
    found: str | None,
) -> dict[str, float]:
    """One chip-lora adapter per chip and age band, warm-started from the single one."""
    timings: dict[str, float] = {}
    for seed in seeds:
        for start, label in bands.items():
            run = out / "bands" / f"chip{seed}-{label}"
            say(f"[refresh] chip {seed}, band {label}: fine-tune against the chip at {label}")
            t0 = time.perf_counter()
            spec = _spec(
                sizes, task, "chip-lora", chip_seed=seed, chip_age_s=start, eval_age_s=start,
                init_adapter=str(single), epochs=sizes.refresh_epochs,
                max_train_examples=sizes.refresh_examples, lr=sizes.refresh_lr,
            )  # fmt: skip
            had = (run / "deployment.json").is_file()
            train_step(f"chip{seed}-{label}", spec, run, found)
            if not had:
                timings[run.name] = time.perf_counter() - t0
    return timings


def evaluate(
    single: Path,
    bands_dir: Path,
    seeds: list[int],
    bands: dict[float, str],
    times: list[float],
    data_dir_: str | None,
    max_eval_examples: int,
) -> dict[str, Any]:
    """Both series on every chip and age, each on the same chip read."""
    from analora.adapters.bank import AdapterBank
    from analora.analog import convert, program
    from analora.models import load_model
    from analora.training.methods import evaluate_classification
    from analora.training.pooling import apply_pooling

    record, spec, hardware, data = run_eval_data(single, data_dir_, max_eval_examples)
    pooling = run_pooling(single)
    cells: dict[str, list[dict[str, Any]]] = {s: [] for s in SERIES}
    chosen: dict[str, dict[str, str]] = {}
    for seed in seeds:
        base = load_model(record["model"]["path"], spec.model_class, num_labels=spec.num_labels)
        apply_pooling(base, pooling)
        convert(base, hardware, exclude=["classifier"])
        bank = AdapterBank(program(base, seed=seed))
        bank.add("single", single / "adapter")
        names = {}
        for start, label in bands.items():
            name = f"band-{label}"
            bank.add(name, bands_dir / f"chip{seed}-{label}" / "adapter")
            names[start] = name
        fingerprint = bank.chip.state_fingerprint()
        chosen[str(seed)] = {}
        for t in times:
            for series in SERIES:
                bank.chip.read(t, READ_INDEX)  # the same read (and noise draws) for both
                if series == "single adapter":
                    bank.switch("single")
                else:
                    entry = bank.switch_for_age(names, "single")
                    chosen[str(seed)][repr(t)] = entry.name
                metrics = evaluate_classification(bank.model, spec.name, data)
                cells[series].append({"chip_seed": seed, "t_s": t, "metrics": metrics})
        bank.chip.use_target()
        assert bank.chip.state_fingerprint() == fingerprint
    sizes = {
        name: e.fp16_bytes for name, e in bank.entries.items()
    }  # the same layout on every chip
    return {
        "task": spec.name,
        "primary_metric": spec.primary_metric,
        "cells": cells,
        "chosen": chosen,
        "adapter_fp16_bytes": sizes,
    }


def _summarize(
    evals: dict[str, Any],
    single: Path,
    out: Path,
    seeds: list[int],
    bands: dict[float, str],
    times: list[float],
    timings: dict[str, float],
    sizes: RefreshSizes,
) -> dict[str, Any]:
    metric = evals["primary_metric"]
    series: dict[str, dict[float, dict[str, float]]] = {}
    for name in SERIES:
        series[name] = series_results(
            out / "sweeps" / name.replace(" ", "-"),
            method="ahwa-lora" if name == "single adapter" else "chip-lora",
            label=name,
            task=evals["task"],
            metric=metric,
            times_s=times,
            chip_seeds=seeds,
            cells=evals["cells"][name],
            configs={"bands": {repr(k): v for k, v in bands.items()}, "chosen": evals["chosen"]},
            read_index=READ_INDEX,
        )
    first, last = times[0], times[-1]
    drop = {s: series[s][first]["mean"] - series[s][last]["mean"] for s in SERIES}
    steps = {}
    for seed in seeds:
        for label in bands.values():
            log = json.loads(
                (out / "bands" / f"chip{seed}-{label}" / "train_log.json").read_text(
                    encoding="utf-8"
                )
            )
            steps[f"chip{seed}-{label}"] = log.get("step")
    base_log = json.loads((single / "train_log.json").read_text(encoding="utf-8"))
    one = evals["adapter_fp16_bytes"]["single"]
    return {
        "task": evals["task"],
        "metric": metric,
        "bands": {repr(k): v for k, v in bands.items()},
        "series": {s: {repr(t): v for t, v in series[s].items()} for s in SERIES},
        "drop_first_to_last": drop,
        "goal": "refreshed: score at the last age at most 1 point below the first",
        "goal_met": drop["refreshed by age"] <= 1.0,
        "storage": {
            "adapter_fp16_bytes": one,
            "band_adapters_per_chip": len(bands),
            "extra_fp16_bytes_per_chip": len(bands) * one,
            "note": "band adapters are calibrated to one chip: every chip keeps its own",
        },
        "training": {
            "single_steps": base_log.get("step"),
            "refresh_steps": steps,
            "refresh_seconds_this_run": timings,
        },
        "chosen": evals["chosen"],
        "sizes": asdict(sizes),
    }


def _markdown(summary: dict[str, Any], times: list[float]) -> str:
    from analora.sweep.results import time_label

    lines = [
        "# Adapters refreshed by chip age",
        "",
        f"{summary['task']}, {summary['metric']}, mean ± std over chips; bands start at "
        f"{', '.join(summary['bands'].values())}; every read with read index {READ_INDEX}.",
        "",
        "| series | " + " | ".join(time_label(t) for t in times) + " | first - last |",
        "|" + "---|" * (len(times) + 2),
    ]
    for s in SERIES:
        row = summary["series"][s]
        cells = " | ".join(f"{row[repr(t)]['mean']:.2f} ± {row[repr(t)]['std']:.2f}" for t in times)
        lines.append(f"| {s} | {cells} | {summary['drop_first_to_last'][s]:+.2f} |")
    st, tr = summary["storage"], summary["training"]
    refresh_steps = sum(v or 0 for v in tr["refresh_steps"].values())
    lines += [
        "",
        f"Goal (refreshed: last age at most 1 point below the first): "
        f"{'met' if summary['goal_met'] else 'not met'}.",
        "",
        f"Extra storage: {st['band_adapters_per_chip']} band adapters per chip, "
        f"{st['extra_fp16_bytes_per_chip']:,} bytes at FP16 ({st['adapter_fp16_bytes']:,} each). "
        f"Extra training: {refresh_steps} steps over all chips and bands, against "
        f"{tr['single_steps']} for the single adapter.",
        "",
    ]
    return "\n".join(lines)
