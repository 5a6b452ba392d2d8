"""``analora sweep`` and ``analora report``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from analora.errors import AnaloraError

_UNIT_S = {"s": 1.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def parse_age(text: str) -> float:
    """Seconds from ``3600``, ``3600s``, ``1h``, ``1d``, ``1w``, ``30d``, ``1y``, ``10y``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([shdwy]?)\s*", text.lower())
    if not m:
        raise AnaloraError(
            f"--times {text!r} is not an age: give seconds >= 0 or a number with s, h, d, w or y "
            "(e.g. 0 1h 1d 1y)"
        )
    return float(m.group(1)) * _UNIT_S[m.group(2) or "s"]


def cmd_sweep(args: argparse.Namespace) -> int:
    """Evaluate a deployment on N chips at each drift time (resumable)."""
    from tqdm import tqdm

    from analora.sweep.report import markdown_table
    from analora.sweep.results import DEFAULT_TIMES_S
    from analora.sweep.runner import SweepConfig, run_sweep

    if any(t.strip().startswith("-") for t in args.times or []):
        raise AnaloraError("--times must not be negative: give ages in seconds >= 0")
    times = tuple(parse_age(t) for t in args.times) if args.times else DEFAULT_TIMES_S
    config = SweepConfig(
        chips=args.chips,
        times_s=times,
        first_chip_seed=args.first_chip_seed,
        read_index=args.read_index,
    )
    bar = tqdm(total=None, desc="sweep", unit="cell", file=sys.stderr, disable=None)

    def progress(p: dict[str, Any]) -> None:
        bar.total = p["total"]
        bar.n = p["done"]
        value = "" if p["value"] is None else f"{p['value']:.2f}"
        bar.set_postfix_str(f"chip {p['chip_seed']} t={p['t_s']:g}s {p['metric']} {value}")
        bar.refresh()

    results = run_sweep(
        args.deployment,
        args.out,
        config,
        data_dir=args.data_dir,
        max_eval_examples=args.max_eval_examples,
        progress=progress,
    )
    bar.close()
    metric = results["primary_metric"]
    print(f"{results['method']} on {results['task']} ({results['eval_split']}), {metric}:")
    print(markdown_table([results], metric))
    print(f"results: {Path(args.out) / 'results.json'} and results.csv")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Combine result files into a Markdown table, PNG plots and (with --html) a page."""
    from analora.sweep.report import build_report

    written = build_report(args.results, args.out, html_page=args.html)
    for task, table in written["tables"].items():
        print(f"{task}:")
        print(table)
    print(f"report: {written['markdown']}")
    for png in written["images"].values():
        print(f"plot: {png}")
    if "html" in written:
        print(f"html: {written['html']}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("sweep", help=cmd_sweep.__doc__)
    p.add_argument("--deployment", required=True, help="an output directory of 'analora train'")
    p.add_argument("--chips", type=int, default=10, help="chips (programming-noise draws)")
    p.add_argument(
        "--times",
        nargs="+",
        default=None,
        help="ages: seconds or 1h 1d 1w 30d 1y 10y (default: 0 1h 1d 1w 30d 1y 10y)",
    )
    p.add_argument("--first-chip-seed", type=int, default=1000)
    p.add_argument("--read-index", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-eval-examples", type=int, default=None)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help=cmd_report.__doc__)
    p.add_argument("results", nargs="+", help="results.json files or sweep directories")
    p.add_argument("--out", required=True)
    p.add_argument("--html", action="store_true", help="also write report.html")
    p.set_defaults(func=cmd_report)
