"""``analora demo``: the whole method end to end (:func:`analora.demo.run_demo`)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_demo(args: argparse.Namespace) -> int:
    """Program MiniLM, train AHWA-LoRA and the baselines on SST-2, sweep, report."""
    from analora.demo import run_demo

    report = run_demo(args.out, args.data_dir, fast=args.fast)
    print((report / "report.md").read_text(encoding="utf-8"))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.add_argument(
        "--data-dir", default=None, help="GLUE data folder (else ANALORA_DATA_DIR or the Hub)"
    )
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--fast", action="store_true", help="tiny subsets: a smoke test of every step")
    p.set_defaults(func=cmd_demo)
