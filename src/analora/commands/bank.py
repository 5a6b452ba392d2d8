"""``analora bank``: list a bank, add or remove adapters, sweep it in mixed batches."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cmd_bank_list(args: argparse.Namespace) -> int:
    """List the adapters of a bank, with their sizes and bindings (every
    entry checked against its files first)."""
    from analora.bank import verify_bank

    bank = verify_bank(args.bank)
    if args.json:
        print(json.dumps(bank, indent=2))
        return 0
    chip = bank.get("chip")
    print(
        f"bank {args.bank}: model {bank['model']} ({bank['model_class']}, head {bank['head']!r}), "
        f"hardware {(bank.get('hardware') or {}).get('name')}, "
        + (
            f"bound to chip seed {chip['seed']} ({chip['fingerprint'][:12]})"
            if chip
            else "any chip"
        )
    )
    rows = [("name", "task", "method", "LoRA params", "head params", "FP16 bytes", "chip-bound")]
    for name, e in bank["adapters"].items():
        rows.append(
            (
                name,
                e["task"],
                e["method"],
                f"{e['lora_params']:,}",
                f"{e['head_params']:,}",
                f"{e['fp16_bytes']:,}",
                "yes" if e.get("chip_fingerprint") else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"{len(bank['adapters'])} adapters")
    return 0


def cmd_bank_add(args: argparse.Namespace) -> int:
    """Add the adapter of an 'analora train' run (ahwa-lora or chip-lora) to a bank."""
    from analora.bank import add_to_bank

    entry = add_to_bank(args.bank, args.run, name=args.name)
    print(
        f"added {args.name or entry['task']} ({entry['method']}, {entry['task']}): "
        f"{entry['lora_params'] + entry['head_params']:,} parameters, "
        f"{entry['fp16_bytes']:,} bytes at FP16, to {args.bank}"
    )
    return 0


def cmd_bank_remove(args: argparse.Namespace) -> int:
    """Remove an adapter from a bank."""
    from analora.bank import remove_from_bank

    remove_from_bank(args.bank, args.name)
    print(f"removed {args.name} from {args.bank}")
    return 0


def cmd_bank_sweep(args: argparse.Namespace) -> int:
    """Sweep every task of a bank on the same chips, in mixed-task batches (resumable)."""
    from analora.bank.sweep import sweep_bank
    from analora.commands._progress import cell_bar
    from analora.sweep.report import markdown_table
    from analora.sweep.results import parse_ages
    from analora.sweep.runner import SweepConfig
    from analora.workflows.runtime import pick_device, process_shard

    shard, device = process_shard(pick_device(args.device))  # several under accelerate launch
    main = shard is None or shard.is_main
    config = SweepConfig(
        chips=args.chips,
        times_s=parse_ages(args.times),
        first_chip_seed=args.first_chip_seed,
        read_index=args.read_index,
    )
    progress, bar = cell_bar("bank sweep")
    results = sweep_bank(
        args.bank,
        args.out,
        config,
        data_dir=args.data_dir,
        max_eval_examples=args.max_eval_examples,
        batch_size=args.batch_size,
        progress=progress if main else None,
        device=device,
        shard=shard,
    )
    bar.close()
    if not main:  # the main process reports
        return 0
    for name, res in results.items():
        print(f"{name} ({res['task']}), {res['primary_metric']}:")
        print(markdown_table([res], res["primary_metric"]))
    print(f"results: {Path(args.out)}/<name>/results.json")
    return 0


def register(sub: Any) -> None:
    from analora.commands.sweep import add_grid_flags

    bank = sub.add_parser("bank", help="adapter banks: many tasks on one chip").add_subparsers(
        dest="bank_command", required=True
    )
    p = bank.add_parser("list", help=cmd_bank_list.__doc__)
    p.add_argument("bank", help="bank directory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bank_list)

    p = bank.add_parser("add", help=cmd_bank_add.__doc__)
    p.add_argument("bank", help="bank directory (created on first add)")
    p.add_argument("run", help="an output directory of 'analora train'")
    p.add_argument("--name", default=None, help="name in the bank (default: the task)")
    p.set_defaults(func=cmd_bank_add)

    p = bank.add_parser("remove", help=cmd_bank_remove.__doc__)
    p.add_argument("bank")
    p.add_argument("name")
    p.set_defaults(func=cmd_bank_remove)

    p = bank.add_parser("sweep", help=cmd_bank_sweep.__doc__)
    p.add_argument("bank")
    add_grid_flags(p)
    p.add_argument("--batch-size", type=int, default=64, help="examples per mixed batch")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.set_defaults(func=cmd_bank_sweep)
