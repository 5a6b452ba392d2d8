"""``analora sweep`` and ``analora report``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def cmd_sweep(args: argparse.Namespace) -> int:
    """Evaluate a deployment on N chips at each drift time (resumable)."""
    from analora.commands._progress import cell_bar
    from analora.sweep.report import markdown_table
    from analora.sweep.results import parse_ages
    from analora.workflows import SweepSpec, sweep_run

    spec = SweepSpec(
        deployment=args.deployment,
        chips=args.chips,
        times_s=parse_ages(args.times),
        first_chip_seed=args.first_chip_seed,
        read_index=args.read_index,
        max_eval_examples=args.max_eval_examples,
    )
    progress, bar = cell_bar("sweep")
    results = sweep_run(
        spec, args.out, data_dir=args.data_dir, progress=progress, device=args.device
    )
    bar.close()
    if int(os.environ.get("RANK", "0")) != 0:  # under accelerate launch the main process reports
        return 0
    metric = results["primary_metric"]
    print(f"{results['method']} on {results['task']} ({results['eval_split']}), {metric}:")
    print(markdown_table([results], metric))
    print(f"results: {Path(args.out) / 'results.json'} and results.csv")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Combine result files into a Markdown table, PNG plots and (with --html) a page."""
    from analora.workflows import build_report

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


def add_grid_flags(p: Any) -> None:
    """The chips x ages flags that ``sweep`` and ``bank sweep`` share."""
    p.add_argument("--chips", type=int, default=10, help="chips (programming-noise draws)")
    p.add_argument(
        "--times",
        nargs="+",
        default=None,
        help="ages: seconds or 1h 1d 1w 30d 1y 10y (default: 0 1h 1d 1w 30d 1y 10y)",
    )
    p.add_argument("--first-chip-seed", type=int, default=1000)
    p.add_argument(
        "--read-index",
        type=int,
        default=None,
        help="read noise draw (default: 0; 1 for a chip-lora adapter, which trained on read 0)",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-eval-examples", type=int, default=None)
    p.add_argument("--out", required=True)


def register(sub: Any) -> None:
    p = sub.add_parser("sweep", help=cmd_sweep.__doc__)
    p.add_argument("--deployment", required=True, help="an output directory of 'analora train'")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    add_grid_flags(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help=cmd_report.__doc__)
    p.add_argument("results", nargs="+", help="results.json files or sweep directories")
    p.add_argument("--out", required=True)
    p.add_argument("--html", action="store_true", help="also write report.html")
    p.set_defaults(func=cmd_report)
