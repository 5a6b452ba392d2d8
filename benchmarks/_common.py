"""The benchmarks' shared harness: the environment record, timing, memory
readings (peak by VmHWM), goals, and an atomic JSON write.

Every benchmark measures ratios side by side in one process (this machine is
noisy) and writes its record to ``benchmarks/results/NAME.json``, which the
docs quote."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS_DIR = Path(__file__).parent / "results"


def _status(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_mib() -> float:
    """Peak resident memory of this process so far (MiB): the library's
    :func:`analora.provenance.peak_rss_mib` (VmHWM)."""
    from analora.provenance import peak_rss_mib

    return peak_rss_mib()


def rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    rss = _status("VmRSS")
    return float("nan") if rss is None else rss


def timed(fn: Callable[[], Any]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def environment(threads: int | None = None) -> dict[str, Any]:
    """What the numbers were measured on: versions, source revision, machine, load."""
    from analora.provenance import git_revision, package_versions

    return {
        "threads": threads if threads is not None else torch.get_num_threads(),
        "python": sys.version.split()[0],
        "versions": package_versions(),
        "git_revision": git_revision(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def goal(value: float | None, target: tuple[str, float]) -> dict[str, Any]:
    """``{"goal": "<= 1.25", "value": v, "met": bool | None}``."""
    op, bound = target
    met = None if value is None else (value <= bound if op == "<=" else value >= bound)
    return {"goal": f"{op} {bound}", "value": value, "met": met}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``path`` atomically (a temporary sibling, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
