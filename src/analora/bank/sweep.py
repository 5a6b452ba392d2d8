"""Sweeping a bank: every task served by one chip, in mixed-task batches.

For each chip seed the bank's model is programmed once and read at every
age; at each (chip, age) the dev examples of all the bank's tasks are
interleaved round-robin into batches (``batch_size`` examples of mixed
tasks), each batch takes one analog pass, and each task's metrics are
computed from its own examples. One ``analora-results/1`` file per task is
written under ``OUT/<name>/`` (labelled as served from the bank), so
``analora report`` puts them beside the same tasks swept alone.

Resume: as :func:`analora.sweep.runner.run_sweep`, finished cells live in
``cells.json`` and the settings in ``sweep.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from analora.bank.store import BankError, load_bank, read_bank
from analora.files import atomic_write_json, atomic_write_text, is_fresh_directory
from analora.sweep.results import FORMAT, aggregate, higher_is_better, write_results
from analora.sweep.runner import Progress, SweepConfig, git_revision
from analora.training.batching import trim_padding

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _pad(t: Tensor, length: int) -> Tensor:
    if t.shape[1] == length:
        return t
    return torch.nn.functional.pad(t, (0, length - t.shape[1]), value=0)


def mixed_order(counts: dict[str, int]) -> list[tuple[str, int]]:
    """(task, example index) pairs, round-robin over the tasks: the order a
    shared chip sees mixed traffic in."""
    order: list[tuple[str, int]] = []
    longest = max(counts.values(), default=0)
    for i in range(longest):
        order.extend((name, i) for name, n in counts.items() if i < n)
    return order


@torch.no_grad()
def evaluate_mixed(
    bank: Any, data: dict[str, dict[str, Tensor]], batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Every task's metrics, its examples served in mixed-task batches."""
    from analora.tasks import compute_metrics

    length = max(d["input_ids"].shape[1] for d in data.values())
    order = mixed_order({name: len(d["labels"]) for name, d in data.items()})
    outputs: dict[str, list[Tensor | None]] = {
        n: [None] * len(d["labels"]) for n, d in data.items()
    }
    keys = [k for k in INPUTS if all(k in d for d in data.values())]
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = {
            k: torch.stack([_pad(data[n][k][i : i + 1], length)[0] for n, i in chunk]) for k in keys
        }
        rows = bank.forward_mixed([n for n, _ in chunk], **trim_padding(batch))
        for (n, i), row in zip(chunk, rows, strict=True):
            outputs[n][i] = row
    metrics = {}
    for name, d in data.items():
        logits = torch.stack([o for o in outputs[name] if o is not None]).float()
        metrics[name] = compute_metrics(
            bank.entries[name].task, logits.numpy(), d["labels"].numpy()
        )
    return metrics


def _eval_data(bank_dir: Path, bank: dict, data_dir: Any, max_eval: int | None) -> dict:
    from analora.models import resolve
    from analora.training.data import task_inputs

    data: dict[str, dict[str, Tensor]] = {}
    for name, entry in bank["adapters"].items():
        run = json.loads((bank_dir / entry["dir"] / "run.json").read_text(encoding="utf-8"))
        inputs = task_inputs(
            entry["task"],
            resolve(bank["model"]),
            data_dir=data_dir,
            max_eval_examples=max_eval if max_eval is not None else run.get("max_eval_examples"),
            max_length=run.get("max_length"),
            seed=int(run.get("seed", 0)),
            with_train=False,
        )
        if callable(inputs.evaluation):
            raise BankError(
                f"{name!r} is a question-answering adapter: mixed-batch sweeps serve "
                "classification and regression tasks"
            )
        data[name] = inputs.evaluation
    return data


def sweep_bank(
    bank_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None = None,
    data_dir: str | Path | None = None,
    max_eval_examples: int | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Sweep every adapter of a bank on the same chips in mixed-task batches;
    write one results file per task; return them by adapter name."""
    from analora.analog import program
    from analora.analog.convert import conversion_report, digital_twin
    from analora.analog.store import package_versions
    from analora.training.methods import evaluate_classification

    config = config or SweepConfig()
    d, out = Path(bank_dir), Path(out_dir)
    record = read_bank(d)
    settings = {
        "bank": str(d.resolve()),
        "adapters": {n: e["weights_sha256"] for n, e in record["adapters"].items()},
        "sweep": {
            "chips": config.chips,
            "times_s": list(config.times_s),
            "first_chip_seed": config.first_chip_seed,
            "read_index": config.read_index,
        },
        "max_eval_examples": max_eval_examples,
        "batch_size": batch_size,
    }
    settings_path, cells_path = out / "sweep.json", out / "cells.json"
    if settings_path.is_file():
        if json.loads(settings_path.read_text(encoding="utf-8")) != settings:
            raise BankError(
                f"{out} holds a bank sweep with other settings: use the same ones to resume "
                "it, or choose another --out"
            )
    elif not is_fresh_directory(out):
        raise BankError(f"{out} is not an empty directory: choose another --out")
    bound = record.get("chip")
    seeds = config.chip_seeds if bound is None else [int(bound["seed"])]
    if bound is not None and config.chip_seeds != seeds:
        raise BankError(
            f"the bank is bound to chip seed {bound['seed']} by a chip-calibrated adapter: "
            f"sweep it with --chips 1 --first-chip-seed {bound['seed']}"
        )
    started = time.perf_counter()
    data = _eval_data(d, record, data_dir, max_eval_examples)
    bank, _ = load_bank(d, chip_seed=seeds[0])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(settings_path, json.dumps(settings, indent=1) + "\n")
    state: dict[str, Any] = {"digital": None, "cells": [], "chip_ids": {}, "timings": {}}
    if cells_path.is_file():
        state = json.loads(cells_path.read_text(encoding="utf-8"))
    if state["digital"] is None:
        twin: Any = digital_twin(bank.model)
        reference: dict[str, dict[str, float]] = {}
        for name in bank.names:
            twin.set_adapter(name)
            parent, _, attr = bank.head.rpartition(".")
            owner = twin.get_base_model()
            setattr(owner.get_submodule(parent) if parent else owner, attr, bank.heads[name])
            reference[name] = evaluate_classification(twin, bank.entries[name].task, data[name])
        state["digital"] = reference
        del twin
        atomic_write_json(cells_path, state)
    done = {(c["chip_seed"], c["t_s"]) for c in state["cells"]}
    total = len(seeds) * len(config.times_s)
    t_start, this_run = time.perf_counter(), 0
    for seed in seeds:
        todo = [t for t in config.times_s if (seed, t) not in done]
        if not todo:
            continue
        if seed != bank.chip.seed:
            bank.use_chip(program(bank.base, seed=seed))
        state["chip_ids"][str(seed)] = bank.chip.fingerprint()
        try:
            for t_s in todo:
                t1 = time.perf_counter()
                bank.chip.read(t_s, config.read_index)
                metrics = evaluate_mixed(bank, data, batch_size)
                state["cells"].append({"chip_seed": seed, "t_s": t_s, "metrics": metrics})
                state["timings"][f"{seed}@{t_s!r}"] = time.perf_counter() - t1
                atomic_write_json(cells_path, state)
                this_run += 1
                if progress is not None:
                    n_done = len(state["cells"])
                    rate = (time.perf_counter() - t_start) / this_run
                    progress(
                        {
                            "done": n_done,
                            "total": total,
                            "chip_seed": seed,
                            "t_s": t_s,
                            "metric": "tasks",
                            "value": None,
                            "eta_s": rate * (total - n_done),
                        }
                    )
        finally:
            bank.chip.use_target()
    rep = conversion_report(bank.base)
    from analora.tasks import get_task

    results: dict[str, dict[str, Any]] = {}
    for name, entry in record["adapters"].items():
        cells = sorted(
            (
                {"chip_seed": c["chip_seed"], "t_s": c["t_s"], "metrics": c["metrics"][name]}
                for c in state["cells"]
            ),
            key=lambda c: (c["chip_seed"], c["t_s"]),
        )
        digital = state["digital"][name]
        spec = get_task(entry["task"])
        res = {
            "format": FORMAT,
            "method": entry["method"],
            "label": f"{entry['method']}, bank of {len(record['adapters'])} (mixed batches)",
            "task": spec.name,
            "eval_split": spec.eval_splits[0],
            "metrics": list(digital),
            "primary_metric": spec.primary_metric,
            "higher_is_better": higher_is_better(list(digital)),
            "times_s": list(config.times_s),
            "chip_seeds": seeds,
            "read_index": config.read_index,
            "chip_ids": dict(sorted(state["chip_ids"].items(), key=lambda kv: int(kv[0]))),
            "model_fingerprint": rep.model_fingerprint if rep is not None else None,
            "digital": digital,
            "cells": cells,
            "aggregates": aggregate(cells, list(config.times_s)),
            "configs": {
                "hardware": record.get("hardware"),
                "bank": {k: v for k, v in record.items() if k != "adapters"},
                "adapter": record["adapters"][name],
                "bank_adapters": list(record["adapters"]),
                "sweep": settings["sweep"],
                "data": {"max_eval_examples": max_eval_examples, "batch_size": batch_size},
            },
            "versions": package_versions(),
            "git_revision": git_revision(),
            "timings": {
                "cells_s": state["timings"],
                "this_run_s": time.perf_counter() - started,
            },
        }
        write_results(out / name, res)
        results[name] = res
    return results
