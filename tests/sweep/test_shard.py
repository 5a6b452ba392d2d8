"""Several processes sweeping one grid (``accelerate launch``): each reads its
share of the chips, the main process merges, and the result equals one
process's. Two threads stand in for two processes here;
``tests/training/test_accelerate.py`` launches real ones."""

import json
import threading
from pathlib import Path
from typing import Any

from analora.sweep.engine import CELLS_FILE, Grid, GridState, Shard, run_grid

SEEDS = [1000, 1001, 1002, 1003, 1004]
AGES = [0.0, 3600.0]


class _Chip:
    def __init__(self, seed: int, log: list[tuple[int, float]]) -> None:
        self.seed, self.log, self.age = seed, log, None

    def read(self, t_s: float, read_index: int) -> None:
        self.age = t_s
        self.log.append((self.seed, t_s))

    def fingerprint(self) -> str:
        return f"chip-{self.seed}"

    def use_target(self) -> None:
        pass


def _grid(log: list[tuple[int, float]]) -> Grid:
    current: dict[str, Any] = {}

    def chip(seed: int) -> _Chip:
        current["chip"] = _Chip(seed, log)
        return current["chip"]

    def evaluate() -> dict[str, float]:
        c = current["chip"]
        return {"score": c.seed % 100 + c.age / 3600.0}

    return Grid(SEEDS, AGES, 0, lambda: {"score": 99.0}, chip, evaluate)


def _sweep_in_threads(out: Path, world: int) -> tuple[GridState, list[list]]:
    barrier = threading.Barrier(world)
    shared: dict[str, Any] = {}

    def share(obj: Any, rank: int) -> Any:
        if rank == 0:
            shared["obj"] = obj
        barrier.wait()
        value = shared["obj"]
        barrier.wait()
        return value

    logs: list[list] = [[] for _ in range(world)]
    states: list[Any] = [None] * world

    def run(rank: int) -> None:
        shard = Shard(rank, world, barrier.wait, lambda obj: share(obj, rank))
        states[rank] = run_grid(out, _grid(logs[rank]), None, shard)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return states[0], logs


def test_two_processes_read_disjoint_chips_and_merge_to_one_process_cells(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    one_log: list = []
    one = run_grid(tmp_path / "one", _grid(one_log))
    two, logs = _sweep_in_threads(tmp_path / "two", 2)
    assert {s for s, _ in logs[0]} == {1000, 1002, 1004} and {s for s, _ in logs[1]} == {1001, 1003}
    assert sorted(logs[0] + logs[1]) == sorted(one_log)  # every cell read once
    assert two.sorted_cells() == one.sorted_cells() and two.chip_ids == one.chip_ids
    saved = json.loads((tmp_path / "two" / CELLS_FILE).read_text())
    assert len(saved["cells"]) == len(SEEDS) * len(AGES) and saved["digital"] == {"score": 99.0}
    assert not list((tmp_path / "two").glob("cells.part*"))  # merged, then removed


def test_a_cut_multi_process_sweep_resumes_with_its_parts_in_one_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sweep"
    out.mkdir()
    part = GridState(cells=[{"chip_seed": 1001, "t_s": 0.0, "metrics": {"score": 1.0}}])
    part.chip_ids["1001"] = "chip-1001"
    part.save(out / "cells.part1.json")  # a process cut after its first cell
    GridState(digital={"score": 99.0}).save(out / CELLS_FILE)  # its reference was kept
    log: list = []
    state = run_grid(out, _grid(log), None, Shard(0, 1, lambda: None, lambda obj: obj))
    assert (1001, 0.0) not in log and len(log) == len(SEEDS) * len(AGES) - 1
    assert len(state.cells) == len(SEEDS) * len(AGES)
    assert not (out / "cells.part1.json").exists()
