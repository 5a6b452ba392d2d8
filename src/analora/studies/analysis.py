"""The reproduction study's analyses, from its result files only.

* Table I per task: method x age, mean ± std over chips, digital reference.
* Paired differences (the same chip seeds for every method) with 95 %
  confidence intervals (Student's t over chips) for ``ahwa-lora - ahwa``,
  ``ahwa-lora - direct`` and ``chip-lora - ahwa-lora`` at every age.
* The change from 0 s to 10 years on each chip (drift and read noise only:
  the same chip, programmed once), per method, and ``ahwa-lora``'s against
  ``direct``'s and ``ahwa``'s, paired by chip.
* The one-chip bank against each adapter alone, and its GLUE-style average
  against the paper's Table III.
* The 8- to 6-bit re-adaptation (share of the 10-year loss won back).
* The rank ablation; trainable parameters and training time per method.

Writes ``summary.json`` (``analora-summary/1``), ``tables.md`` and the plots
into the results directory, and RESULTS.md beside it when asked.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from analora.files import atomic_write_json, atomic_write_text
from analora.sweep.results import read_results, time_label

SUMMARY_FORMAT = "analora-summary/1"
PAIRS = (("ahwa-lora", "ahwa"), ("ahwa-lora", "direct"), ("chip-lora", "ahwa-lora"))
METHOD_ORDER = ("digital", "digital-lora", "direct", "ahwa", "ahwa-lora", "chip-lora")
PAPER: dict[str, Any] = {
    "glue_bank": {"0": 78.8, "315360000": 76.9},
    "readapt_share": 0.547,
    "squad_f1": {
        "ahwa": {"0": 89.47, "315360000": 85.14},
        "ahwa-lora": {"0": 89.06, "315360000": 85.36},
    },
}
"""Li et al., arXiv 2411.17367: Table III (MobileBERT, 8 GLUE tasks, one chip),
the 8- to 6-bit re-adaptation (10-year F1 85.36 -> 60.81 -> 74.23: 54.7 % won
back) and the SQuAD v1.1 headline (full AHWA against AHWA-LoRA)."""


def load_study(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{task: {method: results}}`` of every finished sweep of the study."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    sweeps = out / "sweeps"
    for path in sorted(sweeps.glob("*/*/results.json")):
        task, method = path.parent.parent.name, path.parent.name
        if task == "bank":
            continue
        found.setdefault(task, {})[method] = read_results(path)
    return found


def _score(metrics: dict[str, float], metric: str) -> float:
    return float(metrics[metric])


def summary(study: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The ``analora-summary/1`` record: per task and method, the primary
    metric (0-100) of the digital reference and at each age over chips."""
    tasks: dict[str, Any] = {}
    for task, methods in study.items():
        entry = {}
        for method, res in methods.items():
            metric = res["primary_metric"]
            ages = {
                str(int(a["t_s"])): {
                    "mean": a["metrics"][metric]["mean"],
                    "std": a["metrics"][metric]["std"],
                }
                for a in res["aggregates"]
            }
            entry[method] = {
                "metric": metric,
                "chips": len(res["chip_seeds"]),
                "digital": _score(res["digital"], metric),
                "ages": ages,
            }
        tasks[task] = dict(sorted(entry.items(), key=lambda kv: _order(kv[0])))
    return {"format": SUMMARY_FORMAT, "tasks": tasks}


def _order(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """The mean and the half width of its 95 % confidence interval (Student's
    t; None for fewer than 2 values)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    return mean, t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def paired(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Per age: mean of ``a - b`` over the chips both were read on, and its
    95 % confidence interval (t over chips; none for fewer than 2 chips)."""
    metric = a["primary_metric"]
    by_b = {(c["chip_seed"], c["t_s"]): c["metrics"][metric] for c in b["cells"]}
    rows = []
    for t_s in a["times_s"]:
        diffs = [
            c["metrics"][metric] - by_b[(c["chip_seed"], t_s)]
            for c in a["cells"]
            if c["t_s"] == t_s and (c["chip_seed"], t_s) in by_b
        ]
        if not diffs:
            continue
        mean, half = mean_ci(diffs)
        rows.append({"t_s": t_s, "mean": mean, "half_width": half, "n": len(diffs)})
    return rows


TEN_YEARS_S = 315360000.0


def changes(res: dict[str, Any], t1_s: float = TEN_YEARS_S) -> dict[int, float]:
    """Per chip: the score at ``t1_s`` minus the score at 0 s (the same chip,
    programmed once: what drift and read noise take over that time)."""
    metric = res["primary_metric"]
    score = {(c["chip_seed"], c["t_s"]): c["metrics"][metric] for c in res["cells"]}
    return {
        seed: score[(seed, t1_s)] - score[(seed, 0.0)]
        for seed, t_s in score
        if t_s == 0.0 and (seed, t1_s) in score
    }


def drift_table(task: str, methods: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The change from 0 s to 10 years per analog method (mean and 95 % CI
    over chips), and ``ahwa-lora``'s change against ``direct``'s and
    ``ahwa``'s, paired by chip (positive: ``ahwa-lora`` loses less)."""
    found: dict[str, Any] = {}
    for method, res in sorted(methods.items(), key=lambda kv: _order(kv[0])):
        per_chip = changes(res)
        if per_chip:
            mean, half = mean_ci(list(per_chip.values()))
            found[method] = {"mean": mean, "half_width": half, "n": len(per_chip)}
    mine = changes(methods["ahwa-lora"]) if "ahwa-lora" in methods else {}
    for other in ("direct", "ahwa"):
        theirs = changes(methods[other]) if other in methods else {}
        diffs = [mine[seed] - theirs[seed] for seed in mine if seed in theirs]
        if diffs:
            mean, half = mean_ci(diffs)
            found[f"ahwa-lora - {other}"] = {"mean": mean, "half_width": half, "n": len(diffs)}
    if not found:
        return "", {}
    lines = [f"### {task}: change from 0 s to 10 years on the same chip (95 % CI over chips)", ""]
    lines += ["| method or difference | change (points) | chips |", "|---|---|---|"]
    for name, row in found.items():
        half = row["half_width"]
        ci = f" ± {half:.2f}" if half is not None else ""
        lines.append(f"| {name} | {row['mean']:+.2f}{ci} | {row['n']} |")
    return "\n".join(lines) + "\n", found


def table_one(task: str, methods: dict[str, dict[str, Any]]) -> str:
    """The paper's Table I for one task: method x age, mean ± std over chips."""
    any_res = next(iter(methods.values()))
    metric = any_res["primary_metric"]
    times = max((r["times_s"] for r in methods.values()), key=len)
    head = ["method", "chips", "digital", *[time_label(t) for t in times]]
    lines = [f"### {task} ({metric})", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for method, res in sorted(methods.items(), key=lambda kv: _order(kv[0])):
        by_t = {a["t_s"]: a["metrics"][metric] for a in res["aggregates"]}
        cells = [
            f"{by_t[t]['mean']:.2f} ± {by_t[t]['std']:.2f}" if t in by_t else "" for t in times
        ]
        digital = f"{_score(res['digital'], metric):.2f}"
        row = [method, str(len(res["chip_seeds"])), digital, *cells]
        lines.append("| " + " | ".join(row) + " |")
    stuck = [m for m, res in sorted(methods.items(), key=lambda kv: _order(kv[0])) if constant(res)]
    if stuck:
        lines += ["", f"Did not learn: {', '.join(stuck)} (one score on every chip and age, and"]
        lines.append("digitally: the model answers with one class, so its row measures a run that")
        lines.append("failed to train, not the method).")
    return "\n".join(lines) + "\n"


def constant(res: dict[str, Any]) -> bool:
    """The same primary score on every chip at every age and digitally: a
    model that answers every input with one class (MCC and correlation 0,
    accuracy the majority share), whatever its weights' noise."""
    metric = res["primary_metric"]
    scores = {round(c["metrics"][metric], 9) for c in res["cells"]}
    return len(res["cells"]) > 1 and scores == {round(_score(res["digital"], metric), 9)}


def pairs_table(task: str, methods: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Paired differences with 95 % CIs for :data:`PAIRS` present in ``methods``."""
    found: dict[str, Any] = {}
    lines = [f"### {task}: paired differences (95 % CI over chips)", ""]
    for a, b in PAIRS:
        if a in methods and b in methods:
            found[f"{a} - {b}"] = paired(methods[a], methods[b])
    if not found:
        return "", {}
    # every age any pair was read at: a method swept at fewer ages leaves its cells blank
    times = sorted({r["t_s"] for rows in found.values() for r in rows})
    lines.append("| difference | " + " | ".join(time_label(t) for t in times) + " |")
    lines.append("|" + "---|" * (len(times) + 1))
    for name, rows in found.items():
        by_t = {r["t_s"]: r for r in rows}
        cells = [
            f"{by_t[t]['mean']:+.2f}"
            + (f" ± {by_t[t]['half_width']:.2f}" if by_t[t]["half_width"] is not None else "")
            if t in by_t
            else ""
            for t in times
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", found


def bank_section(out: Path, study: dict[str, dict[str, dict[str, Any]]]) -> tuple[str, Any]:
    """The bank against each adapter alone, and the GLUE-style average."""
    from analora.studies.multitask import summarize

    bank_dir = out / "sweeps" / "bank"
    bank = {p.parent.name: read_results(p) for p in sorted(bank_dir.glob("*/results.json"))}
    alone = {t: study[t]["ahwa-lora"] for t in bank if "ahwa-lora" in study.get(t, {})}
    if not bank or set(alone) != set(bank):
        return "", None
    result = summarize(bank, alone)
    ages = result["ages_s"]
    lines = ["### One chip, every task (mixed batches) against each adapter alone", ""]
    lines.append("| task | " + " | ".join(f"{time_label(t)} bank / alone" for t in ages) + " |")
    lines.append("|" + "---|" * (len(ages) + 1))
    for task, row in result["tasks"].items():
        cells = [
            f"{row['bank'][repr(t)]['mean']:.2f} / {row['alone'][repr(t)]['mean']:.2f}"
            for t in ages
        ]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    avg = result["glue_average"]
    cells = [
        f"{avg['bank'][repr(t)]['mean']:.2f} / {avg['alone'][repr(t)]['mean']:.2f}" for t in ages
    ]
    lines.append("| GLUE-style average | " + " | ".join(cells) + " |")
    result["average_gap"] = []
    for key, gaps in result["average_gap_by_chip"].items():
        if gaps:
            mean, half = mean_ci(list(gaps.values()))
            row = {"t_s": float(key), "mean": mean, "half_width": half, "n": len(gaps)}
            result["average_gap"].append(row)
    paired_gap = ", ".join(f"{time_label(r['t_s'])} {_fmt_diff(r)}" for r in result["average_gap"])
    lines += [
        "",
        f"Paper (MobileBERT, 8 tasks, one chip): {PAPER['glue_bank']['0']} at 0 s, "
        f"{PAPER['glue_bank']['315360000']} at 10 years. Largest |bank - alone| gap: "
        f"{result['max_abs_gap']:.2f} points. GLUE-style average, bank - alone paired by chip: "
        f"{paired_gap}.",
    ]
    return "\n".join(lines) + "\n", result


def readapt_section(out: Path) -> tuple[str, Any]:
    path = out / "readapt" / "readapt.json"
    if not path.is_file():
        return "", None
    data = json.loads(path.read_text(encoding="utf-8"))
    on_chip = "retrained_on_chip" in data["rows"][0]
    head = "| age | 8-bit, as trained | 6-bit, same adapter | 6-bit, adapter retrained | won back |"
    if on_chip:
        age = time_label(data["on_chip_age_s"])
        head += f" 6-bit, retrained on each chip at {age} | won back |"
    lines = [
        f"### 8- to 6-bit converters on programmed chips ({data['task']}, {data['metric']})",
        "",
        head,
        "|---|---|---|---|---|" + ("---|---|" if on_chip else ""),
    ]

    def share(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.0f} %"

    for row in data["rows"]:
        line = (
            f"| {time_label(row['t_s'])} | {row['before']:.2f} | {row['after_change']:.2f} | "
            f"{row['retrained']:.2f} | {share(row['recovery'])} |"
        )
        if on_chip:
            line += f" {row['retrained_on_chip']:.2f} | {share(row['recovery_on_chip'])} |"
        lines.append(line)
    writes = sorted(set(data["analog_writes"].values()), key=str)
    lines += [
        "",
        f"Analog writes during re-adaptation: {writes}. Paper: 54.7 % won back at 10 years.",
    ]
    if on_chip:
        sizes = data.get("sizes", {})
        lines += [
            "The paper retrains under generic weight noise (the 'adapter retrained' column). "
            "The last columns retrain that adapter on each chip itself (`chip-lora`: "
            f"{sizes.get('on_chip_epochs')} epoch(s) of {sizes.get('on_chip_examples')} examples "
            f"on the chip read at {age} under the 6-bit converters), one adapter per chip, "
            "and reads it with another read index than the training read (fresh read noise); "
            "not a method of the paper.",
        ]
    return "\n".join(lines) + "\n", data


def rank_section(study: dict[str, dict[str, dict[str, Any]]]) -> tuple[str, Any]:
    rows: dict[str, dict[int, dict[str, float | None]]] = {}
    for task, methods in study.items():
        for method, res in methods.items():
            rank = 8 if method == "ahwa-lora" else None
            if method.startswith("ahwa-lora-r"):
                rank = int(method.removeprefix("ahwa-lora-r"))
            if rank is None:
                continue
            metric = res["primary_metric"]
            by_t = {a["t_s"]: a["metrics"][metric]["mean"] for a in res["aggregates"]}
            rows.setdefault(task, {})[rank] = {"0": by_t.get(0.0), "10y": by_t.get(TEN_YEARS_S)}
    rows = {t: r for t, r in rows.items() if len(r) > 1}
    if not rows:
        return "", None
    ranks = sorted({r for by_rank in rows.values() for r in by_rank})
    lines = ["### Rank ablation (ahwa-lora; mean over chips at 0 s / 10 years)", ""]
    lines += ["| task | " + " | ".join(f"r={r}" for r in ranks) + " |"]
    lines.append("|" + "---|" * (len(ranks) + 1))
    for task, by_rank in rows.items():
        at = {r: by_rank.get(r, {}) for r in ranks}  # a rank not run (yet): "-"
        cells = [_pair(at[r].get("0"), at[r].get("10y")) for r in ranks]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    knee: dict[str, Any] = {}
    for task in rows:
        names = {8: "ahwa-lora", 4: "ahwa-lora-r4", 16: "ahwa-lora-r16"}
        runs = {r: study[task][name] for r, name in names.items() if name in study[task]}
        knee[task] = {
            f"r{a} - r{b}": _at(paired(runs[a], runs[b]), TEN_YEARS_S)
            for a, b in ((8, 4), (16, 8))
            if a in runs and b in runs
        }
        found = ", ".join(f"{k} {_fmt_diff(v)}" for k, v in knee[task].items())
        lines.append(f"\n{task} at 10 years, paired by chip: {found or 'no pair run'}.")
    return "\n".join(lines) + "\n", {"by_rank": rows, "knee": knee}


def _pair(a: float | None, b: float | None) -> str:
    return " / ".join("-" if v is None else f"{v:.2f}" for v in (a, b))


def cost_section(out: Path) -> tuple[str, Any]:
    path = out / "timings.json"
    if not path.is_file():
        return "", None
    timings = json.loads(path.read_text(encoding="utf-8"))
    per: dict[str, list[dict[str, Any]]] = {}
    for key, value in timings.items():
        parts = key.split("/")
        if len(parts) >= 3 and isinstance(value, dict):
            per.setdefault(parts[2], []).append(value)
    lines = ["### Trainable parameters and training time per method", ""]
    lines += [
        "| method | runs | trainable parameters | mean training time (s) |",
        "|---|---|---|---|",
    ]
    for method, runs in sorted(per.items(), key=lambda kv: _order(kv[0])):
        counts = runs[0]["trainable"]
        n = sum(counts.values()) if counts else 0
        detail = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v) or "none"
        whole = [r["train_s"] for r in runs if not r.get("partial")]
        mean_s = f"{statistics.fmean(whole):.0f}" if whole else "-"
        if len(whole) < len(runs):
            mean_s += f" ({len(runs) - len(whole)} resumed without their first part: left out)"
        lines.append(f"| {method} | {len(runs)} | {n:,} ({detail}) | {mean_s} |")
    return "\n".join(lines) + "\n", per


def memory_section(out: Path) -> tuple[str, Any]:
    """Training memory per method, from the memory stage's ``memory.json``."""
    path = out / "memory.json"
    if not path.is_file():
        return "", None
    methods = json.loads(path.read_text(encoding="utf-8")).get("methods", {})
    if not methods:
        return "", None
    first = next(iter(methods.values()))
    lines = ["### Training memory per method", ""]
    lines.append(
        f"Each method alone in a fresh process, {first['steps']} optimiser step(s) on "
        f"{first['task']} (batch {first['batch_size']}, length {first['max_length']}), "
        f"{first['device']}, {first['measure']}; 'loaded' is before the method runs (model "
        "and data), 'training adds' is the peak minus it."
    )
    lines += [
        "",
        "| method | trainable parameters | loaded (MiB) | peak (MiB) | training adds (MiB) |",
        "|---|---|---|---|---|",
    ]
    rows = {}
    for method, m in sorted(methods.items(), key=lambda kv: _order(kv[0])):
        adds = m["peak_MiB"] - m["loaded_MiB"]
        rows[method] = {**m, "training_MiB": adds}
        lines.append(
            f"| {method} | {m['trainable']:,} | {m['loaded_MiB']:.0f} | {m['peak_MiB']:.0f} "
            f"| {adds:.0f} |"
        )
    return "\n".join(lines) + "\n", rows


def floors_section(out: Path) -> tuple[str, Any]:
    """Each task's ``digital-lora`` recipe run: dev after every epoch, the
    final model's metric and whether it reaches the task's floor
    (:data:`analora.training.recipes.FLOORS`)."""
    from analora.training.recipes import FLOORS

    rows = {}
    for log in sorted(out.glob("train/*/digital-lora/train_log.json")):
        task = log.parent.parent.name
        deployment = json.loads((log.parent / "deployment.json").read_text(encoding="utf-8"))
        final = deployment["eval"]["metrics"]
        metric, floor = FLOORS.get(task, (next(iter(final)), None))
        epochs = [e.get(metric) for e in json.loads(log.read_text(encoding="utf-8"))["evals"]]
        run = json.loads((log.parent / "run.json").read_text(encoding="utf-8"))
        rows[task] = {
            "metric": metric,
            "floor": floor,
            "final": final[metric],
            "epochs": epochs,
            "met": None if floor is None else final[metric] >= floor,
            "settings": {
                k: run.get(k) for k in ("lr", "epochs", "max_length", "max_train_examples")
            },
        }
    if not rows:
        return "", None
    lines = ["### digital-lora recipe runs against their floors", ""]
    lines += [
        "| task | settings | metric | dev after each epoch | final | floor | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, r in rows.items():
        st = r["settings"]
        settings = (
            f"lr {st['lr']:g}, {st['epochs']} epochs, length {st['max_length']}, "
            f"{st['max_train_examples'] or 'all'} examples"
        )
        per_epoch = ", ".join("-" if v is None else f"{v:.2f}" for v in r["epochs"])
        bound = "-" if r["floor"] is None else f"{r['floor']:g}"
        met = {True: "yes", False: "no", None: "-"}[r["met"]]
        lines.append(
            f"| {task} | {settings} | {r['metric']} | {per_epoch} | {r['final']:.2f} | {bound} "
            f"| {met} |"
        )
    return "\n".join(lines) + "\n", rows


def write_report(out: Path, results_dir: Path) -> dict[str, Any]:
    """All analyses of the study in ``out`` into ``results_dir``."""
    from analora.workflows import build_report

    study = load_study(out)
    results_dir.mkdir(parents=True, exist_ok=True)
    record = summary(study)
    atomic_write_json(results_dir / "summary.json", record)
    sections: list[str] = ["# Reproduction study: tables", ""]
    analyses: dict[str, Any] = {}
    for task, methods in study.items():
        sections.append(table_one(task, methods))
        text, analyses[f"pairs/{task}"] = pairs_table(task, methods)
        sections.append(text)
        text, analyses[f"drift/{task}"] = drift_table(task, methods)
        sections.append(text)
        analyses[f"did-not-learn/{task}"] = [m for m, res in methods.items() if constant(res)]
    for name, (text, data) in {
        "floors": floors_section(out),
        "bank": bank_section(out, study),
        "readapt": readapt_section(out),
        "rank": rank_section(study),
        "cost": cost_section(out),
        "memory": memory_section(out),
    }.items():
        sections.append(text)
        analyses[name] = data
    atomic_write_text(results_dir / "tables.md", "\n".join(s for s in sections if s))
    atomic_write_json(results_dir / "analyses.json", analyses)
    main = [str(out / "sweeps" / t / m) for t, ms in study.items() for m in ms if "-r" not in m]
    if main:
        build_report(main, results_dir / "plots")
    return {"summary": record, "analyses": analyses}


def _at(rows: list[dict[str, Any]] | None, t_s: float) -> dict[str, Any] | None:
    for row in rows or []:
        if row["t_s"] == t_s:
            return row
    return None


def _fmt_diff(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not run"
    half = row["half_width"]
    return f"{row['mean']:+.2f}" + (f" (95 % CI ± {half:.2f}, {row['n']} chips)" if half else "")


def _verdict(row: dict[str, Any] | None, want: str, why: str = "") -> str:
    """``reproduced`` when the CI lies on the claimed side (``want``: ``>0``,
    ``<0``, or ``~0``: inside +-1 point), ``not reproduced`` when it lies
    wholly on the other (outside +-1 point), ``inconclusive`` otherwise;
    ``why`` follows a verdict on numbers."""
    if row is None or row["half_width"] is None:
        return "not testable here (not run)"
    return _side(row, want) + why


def _side(row: dict[str, Any], want: str) -> str:
    lo, hi = row["mean"] - row["half_width"], row["mean"] + row["half_width"]
    if want == ">0":
        return "reproduced" if lo > 0 else ("not reproduced" if hi < 0 else "inconclusive")
    if want == "~0":
        if lo >= -1 and hi <= 1:
            return "reproduced"
        return "not reproduced" if (lo > 1 or hi < -1) else "inconclusive"
    return "reproduced" if hi < 0 else ("not reproduced" if lo > 0 else "inconclusive")


def claims(report: dict[str, Any]) -> list[dict[str, str]]:
    """The paper's claims, each with the numbers here and a verdict."""
    analyses = report["analyses"]
    out = []
    ten_y = TEN_YEARS_S
    for key, data in sorted(analyses.items()):
        if not key.startswith("pairs/") or not data:
            continue
        task = key.removeprefix("pairs/")
        vs_ahwa = data.get("ahwa-lora - ahwa")
        vs_direct = data.get("ahwa-lora - direct")
        failed = analyses.get(f"did-not-learn/{task}") or []
        why = f" ({', '.join(sorted(failed))} did not learn)" if failed else ""
        floor = (analyses.get("floors") or {}).get(task) or {}
        blocked = None
        if floor.get("met") is False:  # the reference did not learn: nothing to compare
            blocked = (
                f"not testable here (digital-lora below its floor: {floor['final']:.2f} < "
                f"{floor['floor']:g})"
            )

        # An adapter that did not learn the task holds its (near-chance) score
        # through any drift: the claims against direct deployment say nothing.
        entry = report.get("summary", {}).get("tasks", {}).get(task, {}).get("ahwa-lora")
        stuck = None
        if (
            entry
            and floor.get("floor") is not None
            and entry.get("metric") == floor.get("metric")
            and entry["digital"] < floor["floor"]
        ):
            stuck = (
                f"not testable here (ahwa-lora did not learn the task: noise-free "
                f"{entry['digital']:.2f} < floor {floor['floor']:g})"
            )
        rows = [
            ("AHWA-LoRA within 1 point of full AHWA at 0 s", _at(vs_ahwa, 0.0), "~0"),
            ("AHWA-LoRA at least as good as full AHWA at 10 years", _at(vs_ahwa, ten_y), ">0"),
            (
                "AHWA-LoRA holds accuracy better than direct deployment at 10 years",
                _at(vs_direct, ten_y),
                ">0",
            ),
        ]
        drift = (analyses.get(f"drift/{task}") or {}).get("ahwa-lora - direct")
        if drift is not None:
            rows.append(
                (
                    "AHWA-LoRA loses less than direct deployment from 0 s to 10 years on the "
                    "same chip",
                    drift,
                    ">0",
                )
            )
        for claim, row, want in rows:
            verdict = blocked if blocked and row is not None else _verdict(row, want, why)
            if stuck and not blocked and row is not None and "direct" in claim:
                verdict = stuck
            out.append({"claim": f"{task}: {claim}", "here": _fmt_diff(row), "verdict": verdict})
    out += _other_claims(analyses)
    return out


def _widest(rows: list[dict[str, Any]]) -> str:
    """The interval, over every age, that holds each age's 95 % CI."""
    if not rows or any(r["half_width"] is None for r in rows):
        return "(fewer than 2 chips)"
    lo = min(r["mean"] - r["half_width"] for r in rows)
    hi = max(r["mean"] + r["half_width"] for r in rows)
    return f"[{lo:+.2f}, {hi:+.2f}] points at every age"


def _bank_verdict(rows: list[dict[str, Any]]) -> str:
    """Reproduced when the paired gap's CI lies inside +-1 point at every
    age; not reproduced when it lies wholly outside at any age."""
    if not rows or any(r["half_width"] is None for r in rows):
        return "inconclusive (fewer than 2 chips)"
    sides = [_side(r, "~0") for r in rows]
    if "not reproduced" in sides:
        return "not reproduced"
    return "reproduced" if set(sides) == {"reproduced"} else "inconclusive"


def _other_claims(analyses: dict[str, Any]) -> list[dict[str, str]]:
    """The claims outside the paired comparisons: bank, re-adaptation, rank."""
    rows = []
    bank = analyses.get("bank")
    if bank:
        avg = bank["glue_average"]["bank"]
        here = ", ".join(f"{time_label(float(t))} {v['mean']:.2f}" for t, v in avg.items())
        rows.append(
            {
                "claim": "One programmed chip serves every task as well as each adapter alone "
                "(paper: GLUE average 78.8 at 0 s, 76.9 at 10 years, MobileBERT)",
                "here": f"bank GLUE-style average {here}; largest bank-alone gap of a task "
                f"{bank['max_abs_gap']:.2f}; the average's bank - alone, paired by chip, "
                "within " + _widest(bank.get("average_gap") or []),
                "verdict": _bank_verdict(bank.get("average_gap") or []),
            }
        )
    else:
        rows.append(
            {
                "claim": "One programmed chip serves every task (paper: Table III)",
                "here": "bank stage not run",
                "verdict": "not testable here (not run)",
            }
        )
    data: dict[str, Any] = analyses.get("readapt") or {}
    ten = next((r for r in data.get("rows", []) if r["t_s"] == TEN_YEARS_S), None)
    if ten is not None and ten["recovery"] is not None:
        share = ten["recovery"]
        rows.append(
            {
                "claim": "Retraining only the adapters after 8 -> 6-bit converters wins back about "
                "55 % of the 10-year loss, with no analog write",
                "here": f"{100 * share:.0f} % won back; analog writes "
                f"{sorted(set(map(str, data['analog_writes'].values())))}"
                + (
                    ""
                    if ten.get("recovery_on_chip") is None
                    else f" (retrained on each chip instead: {100 * ten['recovery_on_chip']:.0f} %)"
                ),
                "verdict": "reproduced" if share >= 0.4 else "not reproduced",
            }
        )
    else:
        rows.append(
            {
                "claim": "8 -> 6-bit re-adaptation wins back about 55 % of the loss",
                "here": "readapt stage not run (or no loss to win back)",
                "verdict": "not testable here (not run)",
            }
        )
    rank = analyses.get("rank")
    for task, pairs in (rank or {}).get("knee", {}).items():
        up, beyond = pairs.get("r8 - r4"), pairs.get("r16 - r8")
        here = "; ".join(f"{k} {_fmt_diff(v)}" for k, v in pairs.items()) + " at 10 years"
        ran = rank.get("by_rank", {}).get(task, {}) if rank else {}
        absent = [f"r={r}" for r in (4, 8, 16) if r not in ran and str(r) not in ran]
        if not pairs:
            here = f"{', '.join(absent) or 'a pair'} not run"
        if up is None or beyond is None:
            verdict = f"inconclusive ({', '.join(absent)} not run)"
        elif up["half_width"] is None or beyond["half_width"] is None:
            verdict = "inconclusive (fewer than 2 chips)"
        else:
            gains, flat = _side(up, ">0"), _side(beyond, "~0")
            verdict = (
                "reproduced" if gains == flat == "reproduced"
                else "not reproduced" if "not reproduced" in (gains, flat)
                else "inconclusive"
            )  # fmt: skip
        rows.append(
            {
                "claim": f"{task}: rank r = 8 is the knee (r = 8 beats r = 4, r = 16 adds "
                "less than a point)",
                "here": here,
                "verdict": verdict,
            }
        )
    if not rank:
        rows.append(
            {
                "claim": "Rank: r = 8 is the knee",
                "here": "rank stage not run",
                "verdict": "not testable here (not run)",
            }
        )
    rows.append(_memory_claim(analyses.get("memory")))
    return rows


MEMORY_SAVING = 0.05
"""The least share of full AHWA's peak that AHWA-LoRA must save for the
memory claim to count as reproduced (the paper: about 13 %)."""


def _memory_claim(memory: dict[str, Any] | None) -> dict[str, str]:
    claim = "AHWA-LoRA trains with about 13 % less memory than full AHWA"
    if not memory or "ahwa" not in memory or "ahwa-lora" not in memory:
        return {
            "claim": claim,
            "here": "the memory stage did not measure both ahwa and ahwa-lora",
            "verdict": "not testable here (not run)",
        }
    full, lora = memory["ahwa"], memory["ahwa-lora"]

    def less(a: float, b: float) -> str:
        share = 1 - a / b
        return f"{100 * share:.1f} % less" if share >= 0 else f"{-100 * share:.1f} % more"

    saved = 1 - lora["peak_MiB"] / full["peak_MiB"]
    here = (
        f"peak {lora['peak_MiB']:.0f} vs {full['peak_MiB']:.0f} MiB: "
        f"{less(lora['peak_MiB'], full['peak_MiB'])}"
    )
    if full["training_MiB"] > 0:
        here += f"; what training adds: {less(lora['training_MiB'], full['training_MiB'])}"
    bare = memory.get("ahwa-lora, no dropout")
    if bare:
        here += (
            f"; without LoRA dropout {bare['peak_MiB']:.0f} MiB, "
            f"{less(bare['peak_MiB'], full['peak_MiB'])}"
        )
    here += (
        f" ({full['measure']}, {full['device']}, {full['task']}, batch {full['batch_size']}"
        f" x {full['max_length']} tokens, one measurement)"
    )
    return {
        "claim": claim,
        "here": here,
        "verdict": "reproduced" if saved >= MEMORY_SAVING else "not reproduced",
    }


INTRO_FILE = "intro.md"
"""RESULTS.md's opening, kept in the results folder by the report stage so
that RESULTS.md can be rebuilt from that folder alone."""
INPUTS_DIR = "inputs"
ARCHIVE_FILE = "archive.json"
ARCHIVE_FORMAT = "analora-study-inputs/1"
INPUT_PATTERNS = (
    "study.json",
    "timings.json",
    "memory.json",
    "readapt/readapt.json",
    "sweeps/**/results.json",
    "train/*/*/deployment.json",
    "train/*/digital-lora/train_log.json",
    "train/*/digital-lora/run.json",
)
"""Every file of a study folder that the report reads: JSON records of a few
kilobytes each, where the folder itself holds gigabytes of checkpoints."""


def is_archive(out: Path) -> bool:
    """Whether ``out`` is a copy of a study's report inputs (:func:`archive_inputs`)."""
    return (out / ARCHIVE_FILE).is_file()


def archive_inputs(out: Path, dest: Path) -> list[str]:
    """Copy the files of the study in ``out`` that the report reads
    (:data:`INPUT_PATTERNS`) into ``dest``, replacing it whole, so that the
    report and RESULTS.md can be rebuilt from the repository when the study
    folder is gone (``--out dest --stage report``). Returns the relative
    paths copied."""
    from analora.files import atomic_directory

    found = sorted({p for pattern in INPUT_PATTERNS for p in out.glob(pattern) if p.is_file()})
    names = [str(p.relative_to(out)) for p in found]
    with atomic_directory(dest) as tmp:
        for path, name in zip(found, names, strict=True):
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(path.read_bytes())
        atomic_write_json(tmp / ARCHIVE_FILE, {"format": ARCHIVE_FORMAT, "files": names})
    return names


def rebuild_results_md(results_dir: Path, path: Path) -> None:
    """RESULTS.md from a results folder alone: its ``summary.json``,
    ``analyses.json``, ``tables.md``, plots, :data:`INTRO_FILE` and the
    studies kept beside it (after adding one, this refreshes the links).

    A task that only a kept study ran (SQuAD-devsplit, say) joins the claims
    table and ``summary.json``, whose ``sources`` then names the kept study
    each such task comes from."""
    needed = ("summary.json", "analyses.json", "tables.md", INTRO_FILE)
    missing = [n for n in needed if not (results_dir / n).is_file()]
    if missing:
        from analora.errors import AnaloraError

        raise AnaloraError(
            f"{results_dir} has no {missing[0]}: point --results-dir at a folder the study's "
            "report stage wrote (analora study reproduce --stage report)"
        )
    record = json.loads((results_dir / "summary.json").read_text(encoding="utf-8"))
    borrowed = record.pop(SOURCES_KEY, {})
    tasks = {t: v for t, v in record.get("tasks", {}).items() if t not in borrowed}
    kept = kept_tasks(results_dir, set(tasks))
    record["tasks"] = tasks | {t: r["summary"]["tasks"][t] for t, (_, r) in kept.items()}
    if kept:
        record[SOURCES_KEY] = {t: f"{d.name}/summary.json" for t, (d, _) in kept.items()}
    atomic_write_json(results_dir / "summary.json", record)
    report = {
        "summary": record,
        "analyses": json.loads((results_dir / "analyses.json").read_text(encoding="utf-8")),
    }
    intro = (results_dir / INTRO_FILE).read_text(encoding="utf-8")
    write_results_md(report, results_dir, path, intro, kept)


SOURCES_KEY = "sources"
"""``summary.json``'s map from a task taken from a kept study to that study's
own ``summary.json`` (relative to the results folder)."""


def kept_studies(results_dir: Path) -> list[Path]:
    """Studies kept beside the main one in ``results_dir``: its subfolders
    with a ``tables.md`` of their own (each written by a report stage)."""
    return sorted(
        p.parent for p in results_dir.glob("*/tables.md") if p.parent.name not in ("llm", "plots")
    )


def kept_tasks(results_dir: Path, own: set[str]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """``task -> (kept study folder, its report)`` for every task of a kept
    study that the main study (tasks ``own``) did not run."""
    from analora.errors import AnaloraError

    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for study_dir in kept_studies(results_dir):
        files = [study_dir / "summary.json", study_dir / "analyses.json"]
        if not all(f.is_file() for f in files):
            continue
        record, analyses = (json.loads(f.read_text(encoding="utf-8")) for f in files)
        for task in record.get("tasks", {}):
            if task in own:
                continue
            if task in found:
                raise AnaloraError(
                    f"{task} is in two kept studies, {found[task][0].name}/ and "
                    f"{study_dir.name}/: move the one that RESULTS.md should not quote out of "
                    f"{results_dir} (into a subfolder of a subfolder, say)"
                )
            found[task] = (study_dir, {"summary": record, "analyses": analyses})
    return found


def _title(study_dir: Path) -> str:
    """The first heading of a kept study's README (its folder name without one)."""
    readme = study_dir / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return f"{line.lstrip('#').strip()} (`{study_dir.name}/`)"
    return study_dir.name


def write_results_md(
    report: dict[str, Any],
    results_dir: Path,
    path: Path,
    intro: str,
    kept: dict[str, tuple[Path, dict[str, Any]]] | None = None,
) -> None:
    """RESULTS.md: ``intro`` (what was run, on what, how long), the claims
    with their numbers and verdicts (those of ``kept``'s tasks, from
    :func:`kept_tasks`, after the main study's), then the tables
    (``tables.md``)."""
    rel = (
        results_dir.relative_to(path.parent)
        if results_dir.is_relative_to(path.parent)
        else results_dir
    )
    lines = [intro.rstrip(), "", "## The paper's claims, tested", ""]
    lines += ["| claim | here (paired difference, points) | verdict |", "|---|---|---|"]
    for c in claims(report):
        lines.append(f"| {c['claim']} | {c['here']} | {c['verdict']} |")
    for task, (study_dir, other) in (kept or {}).items():
        link = f"[{study_dir.name}/]({rel}/{study_dir.name}/README.md)"
        for c in claims(other):
            if c["claim"].startswith(f"{task}: "):
                lines.append(f"| {c['claim']} ({link}) | {c['here']} | {c['verdict']} |")
    tables = (results_dir / "tables.md").read_text(encoding="utf-8")
    tables = tables.replace("# Reproduction study: tables", "## Tables").replace("](", f"]({rel}/")
    lines += ["", tables]
    plots = sorted((results_dir / "plots").glob("*.png"))
    if plots:
        lines += ["## Plots", ""] + [f"![{p.stem}]({rel}/plots/{p.name})" for p in plots]
    others = kept_studies(results_dir)
    if others:  # earlier or smaller studies kept beside this one, each with its own README
        lines += ["", "## Other studies kept here", ""]
        lines += [f"* [{_title(d)}]({rel}/{d.name}/README.md)" for d in others]
    llm = results_dir / "llm" / "tables.md"
    if llm.is_file():  # written by `analora llm study` into the same results folder
        text = llm.read_text(encoding="utf-8").replace("# Decoder LLM", "## Decoder LLM", 1)
        lines += ["", text.replace("\n## ", "\n### ")]
        lines.append(f"More on the decoder runs: [{rel}/llm/README.md]({rel}/llm/README.md).")
    atomic_write_text(path, "\n".join(lines) + "\n")
