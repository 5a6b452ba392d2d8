"""The one sweep engine: a grid of chips x ages, resumable cell by cell.

A sweep directory holds ``sweep.json`` (the settings; a rerun must match
them) and ``cells.json`` (the digital reference and every finished cell,
rewritten atomically after each). The engine knows nothing of what is
deployed: a plain deployment and a bank of adapters each pass three
callbacks (:class:`Grid`), and build their :class:`Results` from the
returned :class:`GridState`. Every read is seeded by (chip seed, age, read
index) and a chip is rebuilt bit-identically from its seed, so a resumed
sweep ends with the results of an unbroken one (timings aside).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_text, is_fresh_directory
from analora.provenance import git_revision, package_versions
from analora.sweep.results import (
    CSV_FILE,
    FORMAT,
    JSON_FILE,
    aggregate,
    higher_is_better,
    read_results,
    write_results,
)

SETTINGS_FILE = "sweep.json"
CELLS_FILE = "cells.json"

PART_FILE = "cells.part{rank}.json"
"""One process's finished cells while several sweep a grid together."""

Progress = Callable[[dict[str, Any]], None]
"""Called after each cell with done, total, t_s, chip_seed, metric, value, eta_s."""


@dataclass(frozen=True)
class Shard:
    """This process's share of a grid that ``world`` processes sweep together
    (``accelerate launch``): the chips ``rank``, ``rank + world``, ... of the
    grid's seed list. ``barrier()`` waits for every process; ``share(obj)``
    returns the main process's ``obj`` in every process. The main process
    alone writes ``sweep.json``, ``cells.json`` and the results; the others
    write their cells to their own part file, which the main process merges.
    A chip is rebuilt bit-identically from its seed and every read is seeded,
    so the cells do not depend on which process read them (on one device
    type)."""

    rank: int
    world: int
    barrier: Callable[[], None]
    share: Callable[[Any], Any]

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def open_shared(
    out: Path, settings: dict[str, Any], what: str = "a sweep", shard: Shard | None = None
) -> dict | None:
    """:func:`open_sweep` in the main process; every process gets its outcome
    (an error is raised in each, so none waits at a barrier for the others)."""
    if shard is None:
        return open_sweep(out, settings, what)
    outcome: tuple[str, str | None] = ("run", None)
    error: AnaloraError | None = None
    if shard.is_main:
        try:
            outcome = ("finished", None) if open_sweep(out, settings, what) else ("run", None)
        except AnaloraError as exc:
            outcome, error = ("error", str(exc)), exc
    outcome = shard.share(outcome)
    if error is not None:
        raise error
    if outcome[0] == "error":
        raise SweepError(str(outcome[1]))
    return read_results(out) if outcome[0] == "finished" else None


class SweepError(AnaloraError):
    """A sweep cannot start or continue as asked."""


def open_sweep(out: Path, settings: dict[str, Any], what: str = "a sweep") -> dict | None:
    """Check ``out`` for these settings and write them. Returns the finished
    results of an identical sweep (or None: run it, resuming its cells).
    Refuses a directory that holds other settings, a sweep over inputs that
    changed since (``settings["inputs"]``: fingerprints of what it reads),
    or other files."""
    settings_path = out / SETTINGS_FILE
    if settings_path.is_file():
        try:
            previous = json.loads(settings_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            previous = None
        if not isinstance(previous, dict):
            raise SweepError(f"{settings_path} is corrupt: delete {out} to restart the sweep")
        if _extends(previous, settings):
            # More ages or chips on the same grid: the cells done stay valid
            # (a read at age t does not depend on the ages read before it).
            for name in (JSON_FILE, CSV_FILE):
                (out / name).unlink(missing_ok=True)
            atomic_write_text(settings_path, json.dumps(settings, indent=1) + "\n")
            return None
        _same_sweep(out, previous, settings, what)
        if (out / JSON_FILE).is_file():
            return read_results(out)
    elif not is_fresh_directory(out):
        raise SweepError(f"{out} is not an empty directory: choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise SweepError(f"cannot write to {out} ({exc.strerror}): choose another --out") from None
    _remove_leftovers(out)
    atomic_write_text(settings_path, json.dumps(settings, indent=1) + "\n")
    return None


def _remove_leftovers(out: Path) -> None:
    """Delete the hidden temporary files a killed write left in ``out`` (the
    caller holds the directory's lock, so no other writer owns them)."""
    for leftover in out.iterdir():
        if leftover.name.startswith(".") and leftover.is_file():
            leftover.unlink(missing_ok=True)


def _extends(previous: dict, settings: dict) -> bool:
    """Whether ``settings`` is ``previous`` with more ages or more chips (same
    first seed, read index, deployment and inputs), so its cells can be kept."""
    rest = {k for k in set(previous) | set(settings) if k != "sweep"}
    if any(previous.get(k) != settings.get(k) for k in rest):
        return False
    old, new = previous.get("sweep"), settings.get("sweep")
    if not isinstance(old, dict) or not isinstance(new, dict) or old == new:
        return False
    grid_keys = {"chips", "times_s"}
    if any(old.get(k) != new.get(k) for k in (set(old) | set(new)) - grid_keys):
        return False
    try:
        more_chips = int(new["chips"]) >= int(old["chips"])
        more_ages = set(map(float, old["times_s"])) <= set(map(float, new["times_s"]))
    except (KeyError, TypeError, ValueError):
        return False
    return more_chips and more_ages


def _same_sweep(out: Path, previous: dict, settings: dict, what: str) -> None:
    def changed(a: dict, b: dict) -> list[str]:
        keys = []
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k), b.get(k)
            if isinstance(x, dict) and isinstance(y, dict):
                keys += [f"{k}.{inner}" for inner in changed(x, y)]  # sweep.times_s, not sweep
            elif x != y:
                keys.append(k)
        return keys

    keys = changed(
        {k: v for k, v in previous.items() if k != "inputs"},
        {k: v for k, v in settings.items() if k != "inputs"},
    )
    if keys:
        raise SweepError(
            f"{out} holds {what} with other settings ({', '.join(keys)}): use the same ones "
            "to resume it (it may grow to more chips and ages, not fewer), or choose another --out"
        )
    before, now = previous.get("inputs"), settings.get("inputs")
    if before is not None and now is not None and before != now:
        raise SweepError(
            f"{out} holds {what} over other inputs ({', '.join(changed(before, now))} changed "
            "since it started): restore them, or sweep into another --out"
        )


@dataclass
class GridState:
    """``cells.json``: the digital reference, finished cells, chip ids, timings."""

    digital: Any = None
    cells: list[dict[str, Any]] = field(default_factory=list)
    chip_ids: dict[str, str] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=lambda: {"cells": {}, "program_s": {}})

    @classmethod
    def load(cls, path: Path) -> GridState:
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SweepError(f"{path} is corrupt: delete it to restart the sweep") from None
        state = cls(data.get("digital"), data.get("cells", []), data.get("chip_ids", {}))
        state.timings.update(data.get("timings", {}))
        return state

    def save(self, path: Path) -> None:
        record = {
            "digital": self.digital,
            "cells": self.cells,
            "chip_ids": self.chip_ids,
            "timings": self.timings,
        }
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")

    def sorted_cells(self) -> list[dict[str, Any]]:
        return sorted(self.cells, key=lambda c: (c["chip_seed"], c["t_s"]))

    def merge(self, other: GridState) -> None:
        """Add ``other``'s cells (those not here yet), chip ids and timings."""
        done = {(c["chip_seed"], c["t_s"]) for c in self.cells}
        self.cells += [c for c in other.cells if (c["chip_seed"], c["t_s"]) not in done]
        self.chip_ids.update(other.chip_ids)
        for key in ("cells", "program_s"):
            self.timings.setdefault(key, {}).update(other.timings.get(key, {}))
        if self.digital is None:
            self.digital = other.digital


@dataclass
class Grid:
    """What to sweep: chip seeds x ages, and how.

    ``reference()`` gives the digital reference (once); ``chip(seed)`` the
    programmed chip of a seed (it must offer ``read``, ``use_target`` and
    ``fingerprint``); ``evaluate()`` the metrics of the chip as last read.
    ``summary(metrics)`` picks what progress reports (name, value)."""

    seeds: list[int]
    times_s: list[float]
    read_index: int
    reference: Callable[[], Any]
    chip: Callable[[int], Any]
    evaluate: Callable[[], Any]
    summary: Callable[[Any], tuple[str, float | None]] = lambda m: ("", None)


def run_grid(
    out: Path, grid: Grid, progress: Progress | None = None, shard: Shard | None = None
) -> GridState:
    """Evaluate every cell of ``grid`` not yet in ``out/cells.json``; with a
    ``shard``, this process's chips only, and the main process returns the
    merged state of all (the others their own)."""
    path = out / CELLS_FILE
    if shard is None:
        state = GridState.load(path)
        _reference(state, grid, path)
        return _read_cells(state, path, grid.seeds, grid, progress)
    if shard.is_main:  # a cut run's parts first, so a resume may use another world size
        state = _merged(out, GridState.load(path))
        _reference(state, grid, path)
        state.save(path)
    shard.barrier()
    done = GridState.load(path)
    part = out / PART_FILE.format(rank=shard.rank)
    mine = GridState(digital=done.digital, cells=list(done.cells))
    _read_cells(mine, part, grid.seeds[shard.rank :: shard.world], grid, progress)
    shard.barrier()
    if not shard.is_main:
        return mine
    state = _merged(out, done)
    state.save(path)
    for leftover in out.glob(PART_FILE.format(rank="*")):
        leftover.unlink()
    return state


def _merged(out: Path, state: GridState) -> GridState:
    for part in sorted(out.glob(PART_FILE.format(rank="*"))):
        state.merge(GridState.load(part))
    return state


def _reference(state: GridState, grid: Grid, path: Path) -> None:
    if state.digital is None:
        t0 = time.perf_counter()
        state.digital = grid.reference()
        state.timings["digital_s"] = time.perf_counter() - t0
        state.save(path)


def _read_cells(
    state: GridState, path: Path, seeds: list[int], grid: Grid, progress: Progress | None
) -> GridState:
    """Read ``seeds`` at every age not in ``state``, saving ``state`` to
    ``path`` after each cell."""
    done = {(c["chip_seed"], c["t_s"]) for c in state.cells}
    total = len(seeds) * len(grid.times_s)
    start, this_run = time.perf_counter(), 0
    for seed in seeds:
        todo = [t for t in grid.times_s if (seed, t) not in done]
        if not todo:
            continue
        t0 = time.perf_counter()
        chip = grid.chip(seed)
        state.timings["program_s"][str(seed)] = time.perf_counter() - t0
        state.chip_ids[str(seed)] = chip.fingerprint()
        try:
            for t_s in todo:
                t1 = time.perf_counter()
                chip.read(t_s, grid.read_index)
                metrics = grid.evaluate()
                state.cells.append({"chip_seed": seed, "t_s": t_s, "metrics": metrics})
                state.timings["cells"][f"{seed}@{t_s!r}"] = time.perf_counter() - t1
                state.save(path)
                this_run += 1
                if progress is not None:
                    rate = (time.perf_counter() - start) / this_run
                    n_done = sum(1 for c in state.cells if c["chip_seed"] in seeds)
                    name, value = grid.summary(metrics)
                    progress(
                        {
                            "done": n_done,
                            "total": total,
                            "chip_seed": seed,
                            "t_s": t_s,
                            "metric": name,
                            "value": value,
                            "eta_s": rate * (total - n_done),
                        }
                    )
        finally:
            chip.use_target()
    return state


@dataclass
class Results:
    """One ``analora-results/1`` record (schema in :mod:`analora.sweep.results`)."""

    method: str
    task: str
    eval_split: str
    primary_metric: str
    digital: dict[str, float]
    cells: list[dict[str, Any]]
    times_s: list[float]
    chip_seeds: list[int]
    read_index: int = 0
    label: str | None = None
    chip_ids: dict[str, str] = field(default_factory=dict)
    model_fingerprint: str | None = None
    configs: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        names = list(self.digital) or (list(self.cells[0]["metrics"]) if self.cells else [])
        record: dict[str, Any] = {"format": FORMAT, "method": self.method}
        if self.label is not None:
            record["label"] = self.label
        record |= {
            "task": self.task,
            "eval_split": self.eval_split,
            "metrics": names,
            "primary_metric": self.primary_metric,
            "higher_is_better": higher_is_better(names),
            "times_s": self.times_s,
            "chip_seeds": self.chip_seeds,
            "read_index": self.read_index,
            "chip_ids": dict(sorted(self.chip_ids.items(), key=lambda kv: int(kv[0]))),
            "model_fingerprint": self.model_fingerprint,
            "digital": self.digital,
            "cells": self.cells,
            "aggregates": aggregate(self.cells, self.times_s),
            "configs": self.configs,
            "versions": package_versions(),
            "git_revision": git_revision(),
            "timings": self.timings,
            **self.extra,
        }
        return record

    def write(self, out: str | Path) -> dict[str, Any]:
        """Write ``results.json`` and ``results.csv``; return the record."""
        record = self.to_dict()
        write_results(out, record)
        return record
