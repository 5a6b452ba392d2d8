"""Drift sweeps: a deployment on N chips, each programmed once and read as it ages.

A deployment is an output directory of ``analora train`` (its
``deployment.json``): a model to program (``direct``, ``ahwa``), a chip recipe
plus an adapter (``ahwa-lora``, ``chip-lora``), or a digital model (the
reference only). For each chip seed the chip is programmed once, then read
at every time of the grid (drift, fresh read noise, drift compensation as the
hardware config says); it is never reprogrammed between times. The deployed
weights in floating point (:func:`analora.analog.convert.digital_twin`) are
evaluated once as the digital reference.

Resume: the sweep directory holds ``sweep.json`` (its settings) and
``cells.json`` (finished cells, rewritten atomically after each one). A rerun
with the same settings skips the finished cells; since every read is seeded
by (chip seed, time, read index) and a chip is rebuilt bit-identically from
its seed, the final results equal those of an unbroken sweep (timings aside).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from analora.sweep.engine import (  # noqa: F401  (SweepError, Progress: the sweep API)
    CELLS_FILE,
    SETTINGS_FILE,
    Grid,
    Progress,
    Results,
    Shard,
    SweepError,
    open_shared,
    run_grid,
)
from analora.sweep.results import DEFAULT_TIMES_S, read_results


@dataclass(frozen=True)
class SweepConfig:
    """The grid: ``chips`` chip seeds from ``first_chip_seed`` on, times in
    seconds after programming, and the read index of every read (None: 0, or
    :data:`BOUND_READ_INDEX` for an adapter bound to its chip)."""

    chips: int = 10
    times_s: tuple[float, ...] = DEFAULT_TIMES_S
    first_chip_seed: int = 1000
    read_index: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.chips, bool) or not isinstance(self.chips, int) or self.chips < 1:
            raise SweepError(f"--chips {self.chips!r} is invalid: give an integer >= 1")
        times = tuple(float(t) for t in self.times_s)
        if not times:
            raise SweepError("--times is empty: give at least one age in seconds (e.g. 0 3600)")
        bad = [t for t in times if not (math.isfinite(t) and t >= 0)]
        if bad:
            raise SweepError(f"--times {bad[0]!r} is invalid: give finite ages in seconds >= 0")
        if len(set(times)) != len(times):
            raise SweepError("--times lists an age twice: give each age once")
        object.__setattr__(self, "times_s", tuple(sorted(times)))
        if self.first_chip_seed < 0 or (self.read_index is not None and self.read_index < 0):
            raise SweepError("--first-chip-seed and --read-index must be integers >= 0")

    @property
    def chip_seeds(self) -> list[int]:
        return [self.first_chip_seed + i for i in range(self.chips)]


@dataclass
class Deployed:
    """A deployment rebuilt in memory."""

    run_dir: Path
    record: dict[str, Any]
    run: dict[str, Any]
    model: Any
    """The module to evaluate (an adapter-wrapped model for adapter methods)."""
    analog: Any
    """The converted model chips are programmed on (None for a digital deployment)."""
    evaluate: Callable[[Any], dict[str, float]]
    primary_metric: str
    eval_split: str
    bound_chip: Any = None
    adapter_meta: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.record["kind"])

    def to(self, device: str) -> Deployed:
        """Move the models (and a bound chip's state) to ``device``; chips
        programmed later are programmed there."""
        self.model.to(device)
        if self.analog is not None:
            self.analog.to(device)
        if self.bound_chip is not None:
            self.bound_chip.to(device)
        return self

    def chip(self, seed: int) -> Any:
        """Program (once) the chip of this seed."""
        from analora.analog import program

        if self.bound_chip is not None:
            if seed != self.bound_chip.seed:
                raise SweepError(
                    f"the {self.record['method']} adapter is bound to chip seed "
                    f"{self.bound_chip.seed}: sweep it with --chips 1 --first-chip-seed "
                    f"{self.bound_chip.seed}"
                )
            return self.bound_chip
        return program(self.analog, seed=seed)

    def digital_reference(self) -> dict[str, float]:
        from analora.analog.convert import digital_twin

        if self.analog is None:
            return self.evaluate(self.model)
        return self.evaluate(digital_twin(self.model))


def _read_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise SweepError(
            f"{path} is missing or unreadable: pass an output directory of 'analora train'"
        ) from None
    if not isinstance(data, dict) or "task" not in data:
        raise SweepError(f"{path} is not a run record: pass an output directory of 'analora train'")
    return data


def load_deployment(
    run_dir: str | Path,
    data_dir: str | Path | None = None,
    max_eval_examples: int | None = None,
) -> Deployed:
    """Rebuild a deployment and its evaluator from an ``analora train`` directory."""
    from analora.hardware import HardwareConfig
    from analora.tasks import get_task
    from analora.training.deployment import read_deployment
    from analora.training.methods import HEADS, evaluator
    from analora.training.pooling import apply_pooling
    from analora.training.registry import get_method

    d = Path(run_dir)
    record = read_deployment(d)
    run = _read_run(d)
    spec = get_task(record["task"])
    head = run.get("head") or HEADS[spec.model_class]
    owns_model = get_method(record["method"]).owns_model
    base_spec = record["model"].get("path")
    if not owns_model and not base_spec:
        raise SweepError(f"{d / 'deployment.json'} names no base model: retrain the adapter")
    inputs = _eval_inputs(d, run, spec, owns_model, base_spec, data_dir, max_eval_examples)
    hardware = HardwareConfig.from_dict(record["hardware"]) if record.get("hardware") else None
    common = {
        "run_dir": d,
        "record": record,
        "run": run,
        "evaluate": evaluator(spec.name, inputs.evaluation),
        "primary_metric": spec.primary_metric,
        "eval_split": inputs.eval_split,
        "extra": {
            "inputs": {
                "data": inputs.fingerprint,
                "deployment": deployment_fingerprint(d, record),
            }
        },
    }
    pooling = run.get("pooling") or "cls"  # runs before pooling was recorded used the pooler
    if record["kind"] == "digital":
        model = apply_pooling(_digital_model(d, record, spec), pooling)
        return Deployed(model=model, analog=None, **common)
    assert hardware is not None
    if record["kind"] == "model":
        model = apply_pooling(_model_to_program(d, record, spec, hardware, head), pooling)
        return Deployed(model=model, analog=model, **common)
    deployed = _adapter_deployment(d, record, spec, hardware, head, common)
    apply_pooling(deployed.model, pooling)
    return deployed


def _eval_inputs(
    d: Path,
    run: dict[str, Any],
    spec: Any,
    owns_model: bool,
    base_spec: str | None,
    data_dir: str | Path | None,
    max_eval_examples: int | None,
) -> Any:
    """The dev data, tokenised as the run did (its length, seed and stride)."""
    from analora.models import resolve
    from analora.training.data import task_inputs

    tokenizer_source = str(d / "model") if owns_model else resolve(str(base_spec))
    return task_inputs(
        spec.name,
        tokenizer_source,
        data_dir=data_dir,
        max_eval_examples=max_eval_examples
        if max_eval_examples is not None
        else run.get("max_eval_examples"),
        max_length=run.get("max_length"),
        doc_stride=run.get("doc_stride"),
        seed=int(run.get("seed", 0)),
        with_train=False,
    )


def _task_kwargs(spec: Any) -> dict[str, Any]:
    if spec.model_class == "sequence-classification":
        return {"num_labels": spec.num_labels}
    return {}


def _digital_model(d: Path, record: dict[str, Any], spec: Any) -> Any:
    from peft import PeftModel

    from analora.models import load_model
    from analora.training.registry import get_method

    if get_method(record["method"]).owns_model:
        model = load_model(str(d / "model"), spec.model_class, **_task_kwargs(spec))
    else:
        base = load_model(record["model"]["path"], spec.model_class, **_task_kwargs(spec))
        model = PeftModel.from_pretrained(base, str(d / "adapter"))
    model.eval()
    return model


def _model_to_program(d: Path, record: dict[str, Any], spec: Any, hardware: Any, head: str) -> Any:
    from analora.analog import convert, load_analog_model
    from analora.models import load_model

    if record["model"].get("format") == "analog":
        return load_analog_model(d / "model")
    model = load_model(str(d / "model"), spec.model_class, **_task_kwargs(spec))
    convert(model, hardware, exclude=[head])
    return model


def _adapter_deployment(
    d: Path, record: dict[str, Any], spec: Any, hardware: Any, head: str, common: dict
) -> Deployed:
    """The base model converted, an adapter over it, and the chip it is
    bound to (saved, or reprogrammed from its seed) for chip-calibrated ones."""
    from analora.adapters import load_adapter, read_adapter_meta
    from analora.analog import convert, load_chip, program
    from analora.models import load_model

    base = load_model(record["model"]["path"], spec.model_class, **_task_kwargs(spec))
    convert(base, hardware, exclude=[head])
    chip_rec = record.get("chip") or {}
    bound = None
    meta = read_adapter_meta(d / "adapter")
    if meta.get("chip_fingerprint"):
        if chip_rec.get("path"):
            bound = load_chip(chip_rec["path"], base)
        else:
            bound = program(base, seed=int(meta["chip_seed"]))
    model = load_adapter(base, d / "adapter", chip=bound)
    model.eval()
    return Deployed(model=model, analog=base, bound_chip=bound, adapter_meta=meta, **common)


BOUND_READ_INDEX = 1
"""The read index a sweep of a chip-bound adapter (``chip-lora``) defaults
to. It trained against read 0 of its chip, so a sweep at its training age
with index 0 would repeat the very read noise it was fitted to; index 1
reads the same programmed devices (programming noise, drift) with fresh
read noise."""


def default_read_index(run_dir: Path) -> int:
    """0, or :data:`BOUND_READ_INDEX` if the run's adapter is bound to a chip."""
    from analora.adapters import read_adapter_meta

    adapter = run_dir / "adapter"
    if adapter.is_dir() and read_adapter_meta(adapter).get("chip_fingerprint"):
        return BOUND_READ_INDEX
    return 0


def _settings(run_dir: Path, config: SweepConfig, max_eval_examples: int | None) -> dict:
    return {
        "format": "analora-sweep/1",
        "deployment": str(run_dir.resolve()),
        "sweep": {**asdict(config), "times_s": list(config.times_s)},
        "max_eval_examples": max_eval_examples,
    }


def deployment_fingerprint(run_dir: Path, record: dict[str, Any]) -> str:
    """SHA-256 of what a run deploys: ``deployment.json`` and its adapter or
    saved model (not its checkpoints or logs)."""
    import hashlib

    from analora.files import fingerprint_path

    digest = hashlib.sha256((run_dir / "deployment.json").read_bytes())
    for part in (record.get("adapter"), "model" if (run_dir / "model").is_dir() else None):
        if part:
            digest.update(fingerprint_path(run_dir / part).encode())
    return digest.hexdigest()


def run_sweep(
    run_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None = None,
    data_dir: str | Path | None = None,
    max_eval_examples: int | None = None,
    progress: Progress | None = None,
    device: str = "cpu",
    shard: Shard | None = None,
) -> dict[str, Any]:
    """Sweep a deployment over ``config``'s chips and times into ``out_dir``
    on ``device``; resume a sweep with the same settings; refuse a directory
    holding another. With a ``shard`` this process reads its share of the
    chips and the main process (which alone holds the directory's lock)
    writes the results; every process returns them. (Cells are reproducible
    per device: a sweep resumed on another device mixes statistics, not bits.)"""
    import contextlib

    from analora.files import output_lock

    main = shard is None or shard.is_main
    lock = output_lock(out_dir, "analora sweep", beside=True) if main else None
    with lock or contextlib.nullcontext():
        return _sweep_locked(
            run_dir, out_dir, config, data_dir, max_eval_examples, progress, device, shard
        )


def _sweep_locked(
    run_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None,
    data_dir: str | Path | None,
    max_eval_examples: int | None,
    progress: Progress | None,
    device: str = "cpu",
    shard: Shard | None = None,
) -> dict[str, Any]:
    config = config or SweepConfig()
    run, out = Path(run_dir), Path(out_dir)
    read_index = default_read_index(run) if config.read_index is None else config.read_index
    config = replace(config, read_index=read_index)
    settings = _settings(run, config, max_eval_examples)
    started = time.perf_counter()
    deployed = load_deployment(run, data_dir, max_eval_examples).to(device)
    bound = deployed.bound_chip
    if bound is not None and config.chip_seeds != [bound.seed]:
        raise SweepError(
            f"the {deployed.record['method']} adapter is bound to chip seed {bound.seed}: "
            f"sweep it with --chips 1 --first-chip-seed {bound.seed}"
        )
    settings["inputs"] = deployed.extra["inputs"]
    finished = open_shared(out, settings, shard=shard)
    if finished is not None:
        return finished
    seeds = [] if deployed.kind == "digital" else config.chip_seeds
    metric = deployed.primary_metric
    grid = Grid(
        seeds=seeds,
        times_s=list(config.times_s),
        read_index=read_index,
        reference=deployed.digital_reference,
        chip=deployed.chip,
        evaluate=lambda: deployed.evaluate(deployed.model),
        summary=lambda m: (metric, m.get(metric)),
    )
    state = run_grid(out, grid, progress, shard)
    if shard is not None and not shard.is_main:
        shard.barrier()  # the main process writes the results
        return read_results(out)
    results = Results(
        method=deployed.record["method"],
        task=deployed.record["task"],
        eval_split=deployed.eval_split,
        primary_metric=metric,
        digital=state.digital,
        cells=state.sorted_cells(),
        times_s=list(config.times_s) if seeds else [],
        chip_seeds=seeds,
        read_index=read_index,
        chip_ids=state.chip_ids,
        model_fingerprint=_model_fingerprint(deployed),
        configs={
            "hardware": deployed.record.get("hardware"),
            "deployment": deployed.record,
            "run": deployed.run,
            "adapter": deployed.adapter_meta,
            "sweep": settings["sweep"],
            "data": {
                "max_eval_examples": max_eval_examples,
                "eval_split": deployed.eval_split,
                "fingerprint": deployed.extra["inputs"]["data"],
            },
        },
        timings={**state.timings, "this_run_s": time.perf_counter() - started},
    ).write(out)
    if shard is not None:
        shard.barrier()
    return results


def _model_fingerprint(deployed: Deployed) -> str | None:
    from analora.analog.convert import conversion_report

    if deployed.analog is None:
        return None
    rep = conversion_report(deployed.analog)
    return rep.model_fingerprint if rep is not None else None
