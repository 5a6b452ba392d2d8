"""Sweep results as data: a versioned JSON schema, a CSV twin, and aggregates.

This module imports neither torch nor numpy: results are read back, combined
and reported with the standard library (and matplotlib for the plot).

``results.json`` (format ``analora-results/1``) holds:

* ``method``, ``task``, ``eval_split``, ``metrics`` (names), ``primary_metric``,
  ``higher_is_better`` (per metric);
* ``times_s``, ``chip_seeds``, ``read_index``, ``chip_ids`` (chip seed ->
  fingerprint of its programmed state), ``model_fingerprint``;
* ``digital``: the metrics of the deployed weights in floating point, once;
* ``cells``: one per (chip, time): ``chip_seed``, ``t_s``, ``metrics``;
* ``aggregates``: one per time: for each metric ``mean``, ``std`` (sample
  standard deviation over chips, 0 for one chip) and ``n``;
* ``configs`` (the resolved hardware, run, deployment, adapter, sweep and data
  settings), ``versions``, ``git_revision``;
* ``timings``: wall-clock seconds (the only part that differs between two
  runs of the same sweep).

``results.csv`` is the same in long form: one row per cell and metric, then
one per time and metric for the aggregates.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError
from analora.files import atomic_write_text

FORMAT = "analora-results/1"
JSON_FILE = "results.json"
CSV_FILE = "results.csv"

DEFAULT_TIMES_S = (0.0, 3600.0, 86400.0, 604800.0, 2592000.0, 31536000.0, 315360000.0)
"""The paper's drift times: 0 s, 1 hour, 1 day, 1 week, 30 days, 1 year, 10 years."""

_UNITS = (
    (315360000.0, "10 y"),
    (31536000.0, "1 y"),
    (2592000.0, "30 d"),
    (604800.0, "1 w"),
    (86400.0, "1 d"),
    (3600.0, "1 h"),
)
# Lower is better for these metrics; every other one (accuracy, F1, MCC,
# correlations, exact match) is higher-is-better.
LOWER_IS_BETTER = frozenset({"loss", "mse", "perplexity"})


class ResultsError(AnaloraError):
    """A results file is missing, malformed, or cannot be combined."""


_UNIT_S = {"s": 1.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_age(text: str) -> float:
    """Seconds from ``3600``, ``3600s``, ``1h``, ``1d``, ``1w``, ``30d``, ``1y``, ``10y``
    (a year is 365 days, as in the paper's drift times)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([shdwy]?)\s*", text.lower())
    if not m:
        raise ResultsError(
            f"--times {text!r} is not an age: give seconds >= 0 or a number with s, h, d, w or y "
            "(e.g. 0 1h 1d 1y)"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2) or "s"]


def parse_ages(texts: Sequence[str] | None) -> tuple[float, ...]:
    """``--times`` values as seconds (the paper's 7 ages when none are given)."""
    if not texts:
        return DEFAULT_TIMES_S
    if any(t.strip().startswith("-") for t in texts):
        raise ResultsError("--times must not be negative: give ages in seconds >= 0")
    return tuple(parse_age(t) for t in texts)


def time_label(t_s: float) -> str:
    """``0 s``, ``1 h``, ``1 d``, ``1 w``, ``30 d``, ``1 y``, ``10 y``, else seconds."""
    for value, label in _UNITS:
        if t_s == value:
            return label
    return f"{t_s:g} s"


def aggregate(cells: Sequence[Mapping[str, Any]], times_s: Sequence[float]) -> list[dict]:
    """Per time, per metric: mean, sample std over chips (0 for one) and n."""
    out = []
    for t in times_s:
        at = [c["metrics"] for c in cells if c["t_s"] == t]
        metrics: dict[str, dict[str, float | int]] = {}
        for name in at[0] if at else []:
            values = [m[name] for m in at]
            metrics[name] = {
                "mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "n": len(values),
            }
        out.append({"t_s": t, "metrics": metrics})
    return out


def higher_is_better(metrics: Iterable[str]) -> dict[str, bool]:
    return {m: m not in LOWER_IS_BETTER for m in metrics}


def to_csv(results: Mapping[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "method", "task", "chip_seed", "t_s", "metric", "value", "std", "n"])
    method, task = results["method"], results["task"]
    for name, value in results["digital"].items():
        w.writerow(["digital", method, task, "", "", name, repr(value), "", 1])
    for cell in results["cells"]:
        for name, value in cell["metrics"].items():
            w.writerow(
                [
                    "cell",
                    method,
                    task,
                    cell["chip_seed"],
                    repr(cell["t_s"]),
                    name,
                    repr(value),
                    "",
                    1,
                ]
            )
    for agg in results["aggregates"]:
        for name, st in agg["metrics"].items():
            w.writerow(
                [
                    "mean",
                    method,
                    task,
                    "",
                    repr(agg["t_s"]),
                    name,
                    repr(st["mean"]),
                    repr(st["std"]),
                    st["n"],
                ]
            )
    return buf.getvalue()


def write_results(out_dir: str | Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.csv`` atomically; return their paths."""
    out = Path(out_dir)
    if results.get("format") != FORMAT:
        raise ResultsError(f"results must carry format {FORMAT!r}")
    json_path, csv_path = out / JSON_FILE, out / CSV_FILE
    atomic_write_text(csv_path, to_csv(results))
    atomic_write_text(json_path, json.dumps(results, indent=1, sort_keys=False) + "\n")
    return json_path, csv_path


REQUIRED = (
    "format",
    "method",
    "task",
    "metrics",
    "primary_metric",
    "higher_is_better",
    "times_s",
    "chip_seeds",
    "digital",
    "cells",
    "aggregates",
)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read one results file (or the ``results.json`` in a sweep directory), checked."""
    p = Path(path)
    if p.is_dir():
        p = p / JSON_FILE
    if not p.is_file():
        raise ResultsError(f"{p} does not exist: pass a results.json written by 'analora sweep'")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{p} is not valid JSON ({exc}): rerun the sweep") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultsError(f"{p} is not an {FORMAT} file: pass a results.json from 'analora sweep'")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ResultsError(f"{p} lacks {', '.join(missing)}: rerun the sweep")
    for agg in data["aggregates"]:
        for st in agg["metrics"].values():
            if not all(isinstance(st.get(k), (int, float)) for k in ("mean", "std", "n")):
                raise ResultsError(f"{p} has a malformed aggregate at t={agg.get('t_s')}: rerun")
            if not math.isfinite(st["mean"]):
                raise ResultsError(f"{p} has a non-finite mean at t={agg.get('t_s')}: rerun")
    data["_path"] = str(p)
    return data
