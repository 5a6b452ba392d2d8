"""The ``analora tasks`` verbs: list the tasks, show one task's data.

``register(subparsers)`` adds the verbs to the main parser; each verb is a
function of the parsed arguments returning an exit code. Data problems raise
:class:`~analora.errors.DataError`, which the main CLI prints as one line.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from analora.tasks.registry import TASKS, TaskSpec, get_task


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data flags shared by every verb that loads a task."""
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder holding glue/<Task>/*.tsv and squad/v1.1/*.json "
        "(default: $ANALORA_DATA_DIR, else the Hugging Face Hub)",
    )
    parser.add_argument(
        "--source",
        choices=("local", "hub"),
        default=None,
        help="force the local folder or the Hub (default: local if present, else Hub)",
    )
    parser.add_argument(
        "--max-train-examples", type=int, default=None, help="seeded stratified train subset"
    )
    parser.add_argument(
        "--max-eval-examples", type=int, default=None, help="seeded stratified eval subset"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsets")
    parser.add_argument(
        "--split-seed", type=int, default=0, help="squad-devsplit: seed of the article split"
    )


def cmd_tasks_list(args: argparse.Namespace) -> int:
    """List the tasks: head, metrics, primary metric, default length, vendored splits."""
    rows = [("task", "head", "metrics", "primary", "length", "vendored")]
    for spec in TASKS.values():
        rows.append(
            (
                spec.name,
                spec.head,
                ", ".join(spec.metrics),
                spec.primary_metric,
                str(spec.max_length),
                ", ".join(spec.vendored) or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    notes = [f"{s.name}: {s.note}" for s in TASKS.values() if s.note]
    for note in notes:
        print(f"note: {note}")
    return 0


def _balance(spec: TaskSpec, ds: Any) -> str:
    if spec.head == "question-answering":
        n_articles = len(set(ds["title"][:]))
        n_answers = sum(len(a["text"]) for a in ds["answers"])
        return f"{n_articles} articles, {n_answers / len(ds):.2f} gold answers per question"
    labels = ds["label"][:]
    if spec.head == "regression":
        mean = sum(labels) / len(labels)
        return f"score mean {mean:.3f}, range {min(labels):.3f}..{max(labels):.3f}"
    assert spec.label_names is not None
    counts = Counter(labels)
    return ", ".join(
        f"{name} {counts.get(i, 0)} ({100 * counts.get(i, 0) / len(labels):.1f}%)"
        for i, name in enumerate(spec.label_names)
    )


def _example(spec: TaskSpec, row: dict[str, Any]) -> list[str]:
    out = []
    for col in spec.text_columns:
        text = row[col]
        out.append(f"  {col}: {text[:300]}{'...' if len(text) > 300 else ''}")
    if spec.head == "question-answering":
        out.append(f"  answers: {row['answers']['text']}")
    elif spec.label_names is not None:
        out.append(f"  label: {row['label']} ({spec.label_names[row['label']]})")
    else:
        out.append(f"  label: {row['label']:.3f}")
    return out


def cmd_tasks_show(args: argparse.Namespace) -> int:
    """Show a task's splits: sizes, label balance, and one example."""
    from analora.tasks.sources import load_task
    from analora.tasks.subsets import limit_splits

    spec = get_task(args.task)
    data = load_task(spec, source=args.source, data_dir=args.data_dir, split_seed=args.split_seed)
    splits = limit_splits(
        spec, data.splits, args.max_train_examples, args.max_eval_examples, args.seed
    )
    labels = f", labels {', '.join(spec.label_names)}" if spec.label_names else ""
    print(f"task     {spec.name} ({spec.head}{labels})")
    print(f"metrics  {', '.join(spec.metrics)} (primary: {spec.primary_metric})")
    print(
        f"length   {spec.max_length}"
        + (f", doc stride {spec.doc_stride}" if spec.doc_stride else "")
    )
    print(f"source   {data.origin}")
    if spec.note:
        print(f"note     {spec.note}")
    for name, ds in splits.items():
        full = len(data.splits[name])
        size = f"{len(ds)} of {full}" if len(ds) != full else f"{full}"
        unit = "questions" if spec.head == "question-answering" else "rows"
        print(f"{name}: {size} {unit}; {_balance(spec, ds)}")
    for name in spec.splits:
        if name not in splits:
            print(f"{name}: not in {data.origin} ({spec.split_files[name]})")
    first = next(iter(splits))
    print(f"example ({first}[0]):")
    for line in _example(spec, splits[first][0]):
        print(line)
    return 0


def register(subparsers: Any) -> None:
    """Add ``tasks`` (list) and ``tasks show`` to the main parser's subparsers."""
    tasks = subparsers.add_parser("tasks", help="list tasks; show a task's data")
    tasks.set_defaults(func=cmd_tasks_list)
    verbs = tasks.add_subparsers(dest="tasks_command")
    p = verbs.add_parser("list", help=cmd_tasks_list.__doc__)
    p.set_defaults(func=cmd_tasks_list)
    p = verbs.add_parser("show", help=cmd_tasks_show.__doc__)
    p.add_argument("task", help=f"one of {', '.join(TASKS)}")
    add_data_arguments(p)
    p.set_defaults(func=cmd_tasks_show)
