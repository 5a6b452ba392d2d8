"""Reports from result files alone: a Markdown table, a PNG plot, an HTML page.

The table is the paper's Table I layout: one row per method, the digital
reference, then mean ± std over chips at each drift time. The plot shows the
primary metric against drift time on a logarithmic time axis, one line with
error bars (std over chips) per method, and each method's digital reference
as a dashed line in the same colour. Age 0 cannot sit on a log axis: it is
drawn one decade before the first non-zero age, labelled "0 s", behind an
axis break.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from analora.files import atomic_write_text
from analora.sweep.results import ResultsError, read_results, time_label

METHOD_ORDER = ("digital", "digital-lora", "direct", "ahwa", "ahwa-lora", "chip-lora")


def _order(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def _label(res: Mapping[str, Any]) -> str:
    return str(res.get("label") or res["method"])


def _by_task(results: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    tasks: dict[str, list[Mapping[str, Any]]] = {}
    for res in sorted(results, key=lambda r: _order(str(r["method"]))):
        tasks.setdefault(str(res["task"]), []).append(res)
    return tasks


def _times(group: Sequence[Mapping[str, Any]]) -> list[float]:
    return sorted({float(t) for res in group for t in res["times_s"]})


def markdown_table(group: Sequence[Mapping[str, Any]], metric: str) -> str:
    """One task's table for ``metric``: methods by rows, digital then ages by columns."""
    times = _times(group)
    head = ["method", "chips", "digital", *(time_label(t) for t in times)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in group:
        by_t = {float(a["t_s"]): a["metrics"].get(metric) for a in res["aggregates"]}
        row = [_label(res), str(len(res["chip_seeds"])), _fmt(res["digital"].get(metric))]
        for t in times:
            st = by_t.get(t)
            row.append(f"{st['mean']:.2f} ± {st['std']:.2f}" if st else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def plot(group: Sequence[Mapping[str, Any]], metric: str, path: Path, title: str) -> Path:
    """The metric against drift time for one task, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = _times(group)
    nonzero = [t for t in times if t > 0]
    zero_x = (min(nonzero) / 10.0) if nonzero else 1.0

    def x_of(t: float) -> float:
        return zero_x if t == 0 else t

    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, res in enumerate(group):
        colour = colours[k % len(colours)]
        aggs = sorted(res["aggregates"], key=lambda a: float(a["t_s"]))
        pts = [(float(a["t_s"]), a["metrics"].get(metric)) for a in aggs]
        pts = [(t, st) for t, st in pts if st is not None]
        if pts:
            ax.errorbar(
                [x_of(t) for t, _ in pts],
                [st["mean"] for _, st in pts],
                yerr=[st["std"] for _, st in pts],
                marker="o",
                capsize=3,
                color=colour,
                label=f"{_label(res)} ({len(res['chip_seeds'])} chips)",
            )
        ref = res["digital"].get(metric)
        if ref is not None:
            ax.axhline(ref, linestyle="--", linewidth=1.0, color=colour, alpha=0.8)
            if not pts:
                ax.plot(
                    [], [], linestyle="--", color=colour, label=f"{_label(res)} (reference only)"
                )
    ax.set_xscale("log")
    ticks = [x_of(t) for t in times] or [1.0]
    ax.set_xticks(ticks)
    ax.set_xticklabels([time_label(t) for t in times] or ["0 s"])
    ax.minorticks_off()
    if nonzero and 0.0 in times:
        # Mark the break between "0 s" and the log-scaled ages.
        brk = math.sqrt(zero_x * min(nonzero))
        ax.axvline(brk, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_xlabel("time since programming (log scale)")
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="best", title="dashed: digital reference", title_fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def build_report(
    paths: Sequence[str | Path], out_dir: str | Path, html_page: bool = False
) -> dict[str, Any]:
    """Combine result files into ``report.md``, one PNG per task (and
    ``report.html``); return the paths and the Markdown text."""
    if not paths:
        raise ResultsError("no results given: pass one or more results.json files or sweep dirs")
    results = [read_results(p) for p in paths]
    out = Path(out_dir)
    tasks = _by_task(results)
    sections: list[str] = ["# analora report", ""]
    images: dict[str, Path] = {}
    tables: dict[str, str] = {}
    for task, group in tasks.items():
        metric = str(group[0]["primary_metric"])
        metrics = list(dict.fromkeys(m for res in group for m in res["metrics"]))
        split = group[0].get("eval_split", "")
        sections += [f"## {task} ({split})", ""]
        for m in [metric, *[x for x in metrics if x != metric]]:
            table = markdown_table(group, m)
            tables.setdefault(task, table)
            sections += [f"{m}, mean ± std over chips:", "", table, ""]
        png = plot(group, metric, out / f"{task}.png", f"{task}: {metric} against drift time")
        images[task] = png
        sections += [f"![{task}]({png.name})", ""]
        sources = ", ".join(sorted({Path(str(r["_path"])).parent.name for r in group}))
        sections += [f"Sources: {sources}.", ""]
    text = "\n".join(sections)
    md = out / "report.md"
    atomic_write_text(md, text)
    written: dict[str, Any] = {"markdown": md, "images": images, "text": text, "tables": tables}
    if html_page:
        written["html"] = _html(out / "report.html", tasks, images)
    return written


def _html(path: Path, tasks: Mapping[str, Sequence[Mapping[str, Any]]], images: Mapping) -> Path:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>analora report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:right}td:first-child{text-align:left}</style></head><body>",
        "<h1>analora report</h1>",
    ]
    for task, group in tasks.items():
        metric = str(group[0]["primary_metric"])
        parts.append(
            f"<h2>{html.escape(task)}</h2><p>{html.escape(metric)}, mean ± std over chips</p>"
        )
        rows = markdown_table(group, metric).splitlines()
        parts.append("<table>")
        for i, row in enumerate(r for k, r in enumerate(rows) if k != 1):
            cells = [c.strip() for c in row.strip("|").split("|")]
            tag = "th" if i == 0 else "td"
            parts.append(
                "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"
            )
        parts.append("</table>")
        data = base64.b64encode(Path(images[task]).read_bytes()).decode("ascii")
        parts.append(f"<p><img alt='{html.escape(task)}' src='data:image/png;base64,{data}'></p>")
    parts.append("</body></html>")
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path
