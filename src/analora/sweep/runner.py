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
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_text, is_fresh_directory
from analora.sweep.results import (
    DEFAULT_TIMES_S,
    FORMAT,
    JSON_FILE,
    aggregate,
    higher_is_better,
    read_results,
    write_results,
)

SETTINGS_FILE = "sweep.json"
CELLS_FILE = "cells.json"

Progress = Callable[[dict[str, Any]], None]
"""Called after each cell with done, total, t_s, chip_seed, metric, value, eta_s."""


class SweepError(AnaloraError):
    """A sweep cannot start or continue as asked."""


@dataclass(frozen=True)
class SweepConfig:
    """The grid: ``chips`` chip seeds from ``first_chip_seed`` on, times in
    seconds after programming, and the read index of every read."""

    chips: int = 10
    times_s: tuple[float, ...] = DEFAULT_TIMES_S
    first_chip_seed: int = 1000
    read_index: int = 0

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
        if self.first_chip_seed < 0 or self.read_index < 0:
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
    from peft import PeftModel

    from analora.adapters import load_adapter, read_adapter_meta
    from analora.analog import convert, load_analog_model, load_chip, program
    from analora.hardware import HardwareConfig
    from analora.models import load_model, resolve
    from analora.tasks import get_task
    from analora.training.data import task_inputs
    from analora.training.deployment import read_deployment
    from analora.training.methods import HEADS

    d = Path(run_dir)
    record = read_deployment(d)
    run = _read_run(d)
    spec = get_task(record["task"])
    model_class = spec.model_class
    head = run.get("head") or HEADS[model_class]
    kwargs: dict[str, Any] = (
        {"num_labels": spec.num_labels} if model_class == "sequence-classification" else {}
    )
    method = record["method"]
    model_format = record["model"].get("format")
    own_model = d / "model"
    base_spec = record["model"].get("path")
    if method in ("digital", "direct", "ahwa"):
        tokenizer_source = str(own_model)
    else:
        if not base_spec:
            raise SweepError(f"{d / 'deployment.json'} names no base model: retrain the adapter")
        tokenizer_source = resolve(base_spec)
    inputs = task_inputs(
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
    evaluation = inputs.evaluation
    if callable(evaluation):
        evaluate = evaluation
    else:
        from analora.training.methods import evaluate_classification

        def evaluate(m: Any) -> dict[str, float]:
            return evaluate_classification(m, spec.name, evaluation)

    hardware = HardwareConfig.from_dict(record["hardware"]) if record.get("hardware") else None
    common = {
        "run_dir": d,
        "record": record,
        "run": run,
        "evaluate": evaluate,
        "primary_metric": spec.primary_metric,
        "eval_split": inputs.eval_split,
    }
    if record["kind"] == "digital":
        if method == "digital":
            model = load_model(str(own_model), model_class, **kwargs)
        else:
            base = load_model(base_spec, model_class, **kwargs)
            model = PeftModel.from_pretrained(base, str(d / "adapter"))
        model.eval()
        return Deployed(model=model, analog=None, **common)
    assert hardware is not None
    if record["kind"] == "model":
        if model_format == "analog":
            model = load_analog_model(own_model)
        else:
            model = load_model(str(own_model), model_class, **kwargs)
            convert(model, hardware, exclude=[head])
        return Deployed(model=model, analog=model, **common)
    base = load_model(base_spec, model_class, **kwargs)
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


def git_revision() -> str | None:
    """The git commit of the analora source in use (``+dirty`` if modified), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def _settings(run_dir: Path, config: SweepConfig, max_eval_examples: int | None) -> dict:
    return {
        "format": "analora-sweep/1",
        "deployment": str(run_dir.resolve()),
        "sweep": {**asdict(config), "times_s": list(config.times_s)},
        "max_eval_examples": max_eval_examples,
    }


def _load_cells(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"digital": None, "cells": [], "timings": {"cells": {}, "program_s": {}}}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SweepError(f"{path} is corrupt: delete it to restart the sweep") from None


def run_sweep(
    run_dir: str | Path,
    out_dir: str | Path,
    config: SweepConfig | None = None,
    data_dir: str | Path | None = None,
    max_eval_examples: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Sweep a deployment over ``config``'s chips and times into ``out_dir``;
    resume a sweep with the same settings; refuse a directory holding another."""
    from analora.analog.store import package_versions

    config = config or SweepConfig()
    run = Path(run_dir)
    out = Path(out_dir)
    settings = _settings(run, config, max_eval_examples)
    settings_path = out / SETTINGS_FILE
    if settings_path.is_file():
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            previous = None
        if previous != settings:
            raise SweepError(
                f"{out} holds a sweep with other settings: use the same ones to resume it, "
                "or choose another --out"
            )
        if (out / JSON_FILE).is_file():
            return read_results(out)
    elif not is_fresh_directory(out):
        raise SweepError(f"{out} is not an empty directory: choose another --out")
    started = time.perf_counter()
    deployed = load_deployment(run, data_dir, max_eval_examples)
    bound = deployed.bound_chip
    if bound is not None and config.chip_seeds != [bound.seed]:
        raise SweepError(
            f"the {deployed.record['method']} adapter is bound to chip seed {bound.seed}: "
            f"sweep it with --chips 1 --first-chip-seed {bound.seed}"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise SweepError(f"cannot write to {out} ({exc.strerror}): choose another --out") from None
    atomic_write_text(settings_path, json.dumps(settings, indent=1) + "\n")
    cells_path = out / CELLS_FILE
    state = _load_cells(cells_path)

    def save() -> None:
        atomic_write_text(cells_path, json.dumps(state, indent=1) + "\n")

    if state["digital"] is None:
        t0 = time.perf_counter()
        state["digital"] = deployed.digital_reference()
        state["timings"]["digital_s"] = time.perf_counter() - t0
        save()
    seeds = [] if deployed.kind == "digital" else config.chip_seeds
    done = {(c["chip_seed"], c["t_s"]) for c in state["cells"]}
    total = len(seeds) * len(config.times_s)
    chip_ids: dict[str, str] = dict(state.get("chip_ids", {}))
    sweep_start, cells_this_run = time.perf_counter(), 0
    for seed in seeds:
        todo = [t for t in config.times_s if (seed, t) not in done]
        if not todo:
            continue
        t0 = time.perf_counter()
        chip = deployed.chip(seed)
        state["timings"]["program_s"][str(seed)] = time.perf_counter() - t0
        chip_ids[str(seed)] = chip.fingerprint()
        state["chip_ids"] = chip_ids
        try:
            for t_s in todo:
                t1 = time.perf_counter()
                chip.read(t_s, config.read_index)
                metrics = deployed.evaluate(deployed.model)
                state["cells"].append({"chip_seed": seed, "t_s": t_s, "metrics": metrics})
                state["timings"]["cells"][f"{seed}@{t_s!r}"] = time.perf_counter() - t1
                save()
                cells_this_run += 1
                if progress is not None:
                    rate = (time.perf_counter() - sweep_start) / cells_this_run
                    n_done = len(state["cells"])
                    progress(
                        {
                            "done": n_done,
                            "total": total,
                            "chip_seed": seed,
                            "t_s": t_s,
                            "metric": deployed.primary_metric,
                            "value": metrics.get(deployed.primary_metric),
                            "eta_s": rate * (total - n_done),
                        }
                    )
        finally:
            chip.use_target()
    cells = sorted(state["cells"], key=lambda c: (c["chip_seed"], c["t_s"]))
    digital = state["digital"]
    names = list(digital)
    times = list(config.times_s) if seeds else []
    results = {
        "format": FORMAT,
        "method": deployed.record["method"],
        "task": deployed.record["task"],
        "eval_split": deployed.eval_split,
        "metrics": names,
        "primary_metric": deployed.primary_metric,
        "higher_is_better": higher_is_better(names),
        "times_s": times,
        "chip_seeds": seeds,
        "read_index": config.read_index,
        "chip_ids": {s: chip_ids[s] for s in sorted(chip_ids, key=int)},
        "model_fingerprint": _model_fingerprint(deployed),
        "digital": digital,
        "cells": cells,
        "aggregates": aggregate(cells, times),
        "configs": {
            "hardware": deployed.record.get("hardware"),
            "deployment": deployed.record,
            "run": deployed.run,
            "adapter": deployed.adapter_meta,
            "sweep": settings["sweep"],
            "data": {"max_eval_examples": max_eval_examples, "eval_split": deployed.eval_split},
        },
        "versions": package_versions(),
        "git_revision": git_revision(),
        "timings": {**state["timings"], "this_run_s": time.perf_counter() - started},
    }
    write_results(out, results)
    return results


def _model_fingerprint(deployed: Deployed) -> str | None:
    from analora.analog.convert import conversion_report

    if deployed.analog is None:
        return None
    rep = conversion_report(deployed.analog)
    return rep.model_fingerprint if rep is not None else None
