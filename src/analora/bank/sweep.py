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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from analora.bank.disk import BankError, load_bank, read_bank
from analora.sweep.engine import (
    Grid,
    GridState,
    Progress,
    Results,
    Shard,
    SweepError,
    open_shared,
    run_grid,
)
from analora.sweep.results import read_results
from analora.sweep.runner import SweepConfig
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
    from analora.training.evaluation import model_device

    device = model_device(bank.base)
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
        batch = {k: v.to(device) for k, v in trim_padding(batch).items()}
        rows = bank.forward_mixed([n for n, _ in chunk], **batch)
        for (n, i), row in zip(chunk, rows, strict=True):
            outputs[n][i] = row
    metrics = {}
    for name, d in data.items():
        logits = torch.stack([o for o in outputs[name] if o is not None]).float().cpu()
        metrics[name] = compute_metrics(
            bank.entries[name].task, logits.numpy(), d["labels"].numpy()
        )
    return metrics


def _eval_data(
    bank_dir: Path, bank: dict, data_dir: Any, max_eval: int | None
) -> tuple[dict[str, dict[str, Tensor]], dict[str, str]]:
    """Each adapter's dev tensors (tokenised as its run did) and their fingerprints."""
    from analora.models import resolve
    from analora.training.data import task_inputs

    data: dict[str, dict[str, Tensor]] = {}
    fingerprints: dict[str, str] = {}
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
        fingerprints[name] = inputs.fingerprint
    return data, fingerprints


def _bank_settings(d: Path, record: dict, config: SweepConfig, max_eval: int | None, bs: int):
    return {
        "bank": str(d.resolve()),
        "adapters": {n: e["weights_sha256"] for n, e in record["adapters"].items()},
        "sweep": {
            "chips": config.chips,
            "times_s": list(config.times_s),
            "first_chip_seed": config.first_chip_seed,
            "read_index": config.read_index,
        },
        "max_eval_examples": max_eval,
        "batch_size": bs,
    }


def sweep_bank(
    bank_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None = None,
    data_dir: str | Path | None = None,
    max_eval_examples: int | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
    device: str = "cpu",
    shard: Shard | None = None,
) -> dict[str, dict[str, Any]]:
    """Sweep every adapter of a bank on the same chips in mixed-task batches
    on ``device`` (a torch device name, checked by the caller); write one
    results file per task; return them by adapter name. (Cells are
    reproducible per device, as a plain sweep's.) With a ``shard``, this
    process reads its share of the chips and the main process writes."""
    import contextlib

    from analora.files import output_lock

    main = shard is None or shard.is_main
    lock = output_lock(out_dir, "analora bank sweep", beside=True) if main else None
    with lock or contextlib.nullcontext():
        return _sweep_bank_locked(
            bank_dir, out_dir, config, data_dir, max_eval_examples, batch_size, progress, device,
            shard,
        )  # fmt: skip


def _sweep_bank_locked(
    bank_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None,
    data_dir: str | Path | None,
    max_eval_examples: int | None,
    batch_size: int,
    progress: Progress | None,
    device: str,
    shard: Shard | None = None,
) -> dict[str, dict[str, Any]]:
    config = config or SweepConfig()
    read_index = 0 if config.read_index is None else config.read_index  # banks are not chip-bound
    config = replace(config, read_index=read_index)
    d, out = Path(bank_dir), Path(out_dir)
    record = read_bank(d)
    settings = _bank_settings(d, record, config, max_eval_examples, batch_size)
    bound = record.get("chip")
    seeds = config.chip_seeds if bound is None else [int(bound["seed"])]
    if bound is not None and config.chip_seeds != seeds:
        raise BankError(
            f"the bank is bound to chip seed {bound['seed']} by a chip-calibrated adapter: "
            f"sweep it with --chips 1 --first-chip-seed {bound['seed']}"
        )
    started = time.perf_counter()
    data, fingerprints = _eval_data(d, record, data_dir, max_eval_examples)
    settings["inputs"] = {"data": fingerprints}
    bank, _ = load_bank(d, chip_seed=seeds[0])
    bank.to(device)
    try:
        open_shared(out, settings, what="a bank sweep", shard=shard)
    except SweepError as exc:
        raise BankError(str(exc)) from None
    grid = Grid(
        seeds=seeds,
        times_s=list(config.times_s),
        read_index=read_index,
        reference=lambda: _digital_reference(bank, data),
        chip=lambda seed: _use_chip(bank, seed),
        evaluate=lambda: evaluate_mixed(bank, data, batch_size),
        summary=lambda m: ("tasks", None),
    )
    state = run_grid(out, grid, progress, shard)
    if shard is not None and not shard.is_main:
        shard.barrier()  # the main process writes the results
        return {name: read_results(out / name) for name in record["adapters"]}
    results = _write_bank_results(bank, record, state, settings, config, seeds, out, started)
    if shard is not None:
        shard.barrier()
    return results


def _use_chip(bank: Any, seed: int) -> Any:
    from analora.analog import program

    if seed != bank.chip.seed:
        bank.use_chip(program(bank.base, seed=seed))
    return bank.chip


def _digital_reference(bank: Any, data: dict[str, dict[str, Tensor]]) -> dict[str, Any]:
    """Each adapter's metrics on the deployed weights in floating point."""
    from analora.analog.convert import digital_twin
    from analora.training.methods import evaluate_classification

    twin: Any = digital_twin(bank.model)
    reference: dict[str, dict[str, float]] = {}
    for name in bank.names:
        twin.set_adapter(name)
        parent, _, attr = bank.head.rpartition(".")
        owner = twin.get_base_model()
        setattr(owner.get_submodule(parent) if parent else owner, attr, bank.heads[name])
        reference[name] = evaluate_classification(twin, bank.entries[name].task, data[name])
    return reference


def _write_bank_results(
    bank: Any,
    record: dict[str, Any],
    state: GridState,
    settings: dict[str, Any],
    config: SweepConfig,
    seeds: list[int],
    out: Path,
    started: float,
) -> dict[str, dict[str, Any]]:
    from analora.analog.convert import conversion_report
    from analora.tasks import get_task

    rep = conversion_report(bank.base)
    results: dict[str, dict[str, Any]] = {}
    for name, entry in record["adapters"].items():
        cells = [
            {"chip_seed": c["chip_seed"], "t_s": c["t_s"], "metrics": c["metrics"][name]}
            for c in state.sorted_cells()
        ]
        spec = get_task(entry["task"])
        res = Results(
            method=entry["method"],
            label=f"{entry['method']}, bank of {len(record['adapters'])} (mixed batches)",
            task=spec.name,
            eval_split=spec.eval_splits[0],
            primary_metric=spec.primary_metric,
            digital=state.digital[name],
            cells=cells,
            times_s=list(config.times_s),
            chip_seeds=seeds,
            read_index=config.read_index or 0,
            chip_ids=state.chip_ids,
            model_fingerprint=rep.model_fingerprint if rep is not None else None,
            configs={
                "hardware": record.get("hardware"),
                "bank": {k: v for k, v in record.items() if k != "adapters"},
                "adapter": record["adapters"][name],
                "bank_adapters": list(record["adapters"]),
                "sweep": settings["sweep"],
                "data": {
                    "max_eval_examples": settings["max_eval_examples"],
                    "batch_size": settings["batch_size"],
                },
            },
            timings={**state.timings, "this_run_s": time.perf_counter() - started},
        )
        results[name] = res.write(out / name)
    return results
