"""Tables of the decoder-LLM study in the form of the paper's Table IV and
Table V, the noise sweep, and ``summary.json`` (schema ``analora-llm-summary/1``).

The paper's numbers (Li et al., arXiv 2411.17367 v4, LLaMA-3.1-8B; Table IV,
the HellaSwag noise sweep, Table V) are printed beside ours for reference.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from analora.files import atomic_write_json, atomic_write_text
from analora.llm.benchmarks import NAMES, TITLES

SCHEMA = "analora-llm-summary/1"
PAPER_TABLE4 = {
    "digital": (78.91, 82.11, 81.23, 73.88, 53.41, 81.10, 94.60, 87.00, 44.80),
    "analog_before": (29.48, 48.35, 50.44, 51.78, 25.34, 29.42, 42.10, 55.00, 26.20),
    "analog_after": (67.71, 69.36, 69.64, 55.80, 35.67, 54.71, 80.10, 71.00, 33.60),
}
PAPER_TABLE5 = {
    "digital_before": 67.63,
    "digital_after": 85.06,
    "analog_before": 37.98,
    "analog_after": 70.74,
}
ROWS = {
    "digital": "digital",
    "analog_before": "analog, before AHWA-LoRA",
    "analog_after": "analog, after AHWA-LoRA",
}


def summary(table4: dict[str, dict[str, Any]], grpo: dict[str, Any]) -> dict[str, Any]:
    """The ``analora-llm-summary/1`` record: scores 0-100."""
    benchmarks = {
        n: {
            "digital": round(table4["digital"][n]["score"], 2),
            "analog_before": round(table4["analog_before"][n]["score"], 2),
            "analog_after": round(table4["analog_after"][n]["score"], 2),
            "items": int(table4["digital"][n]["items"]),
        }
        for n in NAMES
    }
    problems = int(grpo["digital_before"]["problems"])
    g = {k: round(float(grpo[k]["accuracy"]), 2) for k in PAPER_TABLE5}
    return {"schema": SCHEMA, "benchmarks": benchmarks, "grpo": {**g, "problems": problems}}


def _row(label: str, values: list[float]) -> str:
    cells = " | ".join(f"{v:.2f}" for v in values)
    return f"| {label} | {cells} | {statistics.fmean(values):.2f} |"


def table4_md(table4: dict[str, dict[str, Any]]) -> str:
    head = "| model | " + " | ".join(TITLES[n] for n in NAMES) + " | mean |"
    sep = "|---" * (len(NAMES) + 2) + "|"
    items = ", ".join(f"{TITLES[n]} {int(table4['digital'][n]['items'])}" for n in NAMES)
    lines = [
        "### This library (SmolLM2-135M-Instruct, paper-llm: 6.7 % weight noise)",
        "",
        head,
        sep,
    ]
    lines += [_row(ROWS[k], [table4[k][n]["score"] for n in NAMES]) for k in ROWS]
    lines += [
        "",
        f"Items per benchmark: {items}. Scores: acc_norm for HellaSwag, PIQA, ARC-c, "
        "ARC-e, SciQ and OBQA, acc for BoolQ, WinoGrande and COPA (as lm-eval reports "
        "them); analog rows: mean over chips.",
        "",
        "### The paper (LLaMA-3.1-8B)",
        "",
        head,
        sep,
    ]
    lines += [_row(ROWS[k], list(v)) for k, v in PAPER_TABLE4.items()]
    return "\n".join(lines) + "\n"


def sweep_md(sweep: dict[str, Any]) -> str:
    if not sweep:
        return "Not run yet: rerun the study command to add it.\n"
    points = sorted(sweep.values(), key=lambda r: (r["kind"] != "gaussian", r["value"]))
    benches = list(points[0]["scores"]) if points else []
    head = "| evaluation noise | " + " | ".join(TITLES[b] for b in benches) + " | chips |"
    lines = ["| " + head[2:], "|---" * (len(benches) + 2) + "|"]
    for p in points:
        label = (
            f"Gaussian {100 * p['value']:g} %"
            if p["kind"] == "gaussian"
            else f"PCM model, {p['value']:g} s"
        )
        cells = " | ".join(
            f"{p['scores'][b]['score']:.2f} ± {p['scores'][b]['std']:.2f}" for b in benches
        )
        lines.append(f"| {label} | {cells} | {len(p['chips'])} |")
    items = (
        ", ".join(f"{TITLES[b]} {int(points[0]['scores'][b]['items'])}" for b in benches)
        if points
        else ""
    )
    lines += [
        "",
        f"The adapter trained at 6.7 %; items: {items}. Paper (HellaSwag, LLaMA-3.1-8B): "
        "1 % 77.65, 2 % 77.18, 3 % 76.54, 4 % 75.34, 5 % 73.36, 6 % 70.76, 6.7 % 67.71, "
        "PCM model at 0 s 76.21.",
    ]
    return "\n".join(lines) + "\n"


def table5_md(grpo: dict[str, Any]) -> str:
    lines = ["| model | before GRPO | after GRPO |", "|---|---|---|"]
    for kind in ("digital", "analog"):
        b, a = grpo[f"{kind}_before"]["accuracy"], grpo[f"{kind}_after"]["accuracy"]
        pb, pa = PAPER_TABLE5[f"{kind}_before"], PAPER_TABLE5[f"{kind}_after"]
        lines.append(f"| {kind} | {b:.2f} (paper {pb}) | {a:.2f} (paper {pa}) |")
    n = grpo["digital_before"]["problems"]
    fmt = ", ".join(f"{k} {grpo[k]['format']:.0f} %" for k in PAPER_TABLE5)
    lines += [
        "",
        f"Accuracy (0-100) on {n} held-out problems, greedy decoding; completions "
        f"in the exact answer format: {fmt}.",
    ]
    return "\n".join(lines) + "\n"


def sft_md(out: Path) -> str:
    """One line on the instruction tuning behind the 'after' row."""
    import json

    path = out / "sft" / "sft.json"
    if not path.is_file():
        return ""
    rec = json.loads(path.read_text(encoding="utf-8"))
    losses = rec["losses"]
    k = max(1, min(5, len(losses) // 4))
    spec = rec["spec"]
    return (
        f"AHWA-LoRA instruction tuning: {rec['steps']} steps of {spec['batch_size']} examples "
        f"(at most {rec['tokens_per_example_max']} tokens), rank {spec['lora']['rank']}, "
        f"lr {spec['lr']:g}, {rec['trainable']['lora']:,} adapter weights; training loss under "
        f"the noise {statistics.fmean(losses[:k]):.2f} (first {k} steps) -> "
        f"{statistics.fmean(losses[-k:]):.2f} (last {k}).{_heldout_md(out)}\n"
    )


def _heldout_md(out: Path) -> str:
    import json

    path = out / "heldout_loss.json"
    if not path.is_file():
        return ""
    h = json.loads(path.read_text(encoding="utf-8"))
    b, a = h["analog_before"], h["analog_after"]
    return (
        f" Loss per answer token on {h['examples']} held-out instruction examples: digital "
        f"{h['digital']:.2f}; analog before {b['mean']:.2f}, after {a['mean']:.2f} "
        f"(same {len(b['chips'])} chips)."
    )


def _grpo_setting_md(sizes: Any) -> str:
    """Which problems, and where GRPO starts from."""
    dataset, warm = sizes.grpo_dataset, sizes.grpo_warmup_steps
    start = (
        f"GRPO starts from LoRA warmed up for {warm} supervised steps of 4 worked solutions "
        "in the answer format (the analog one under the same 3 % noise); that model is the "
        "'before' column."
        if warm
        else "GRPO starts from fresh LoRA on the pretrained model."
    )
    return f"Problems: reasoning-gym `{dataset}`, held-out seeds. {start}\n\n"


def _grpo_log_md(out: Path) -> str:
    """What the GRPO runs saw: mean reward and how many groups had no spread."""
    import json

    parts = []
    for kind in ("digital", "analog"):
        path = out / "grpo" / kind / "grpo.json"
        if not path.is_file():
            continue
        rec = json.loads(path.read_text(encoding="utf-8"))
        steps = [e for e in rec["log"] if "reward" in e]
        if not steps:
            continue
        reward = statistics.fmean(float(e["reward"]) for e in steps)
        flat = statistics.fmean(float(e.get("frac_reward_zero_std", 0.0)) for e in steps)
        spec = rec["spec"]
        parts.append(
            f"{kind}: {len(steps)} steps of {spec['num_generations']} completions of at most "
            f"{spec['max_completion_tokens']} tokens, mean reward {reward:.2f} of "
            f"{9.5}, {100 * flat:.0f} % of groups without reward spread (no gradient)"
        )
    return ("\nGRPO training: " + "; ".join(parts) + ".\n") if parts else ""


def versus_paper_md(table4: dict[str, dict[str, Any]], grpo: dict[str, Any]) -> str:
    """What the noise cost, what AHWA-LoRA won back and what GRPO moved, in
    points of the nine-benchmark mean and of math accuracy, beside the
    paper's same quantities."""

    def means(rows: dict[str, Any]) -> dict[str, float]:
        return {k: statistics.fmean(v) for k, v in rows.items()}

    ours = means({k: [table4[k][n]["score"] for n in NAMES] for k in ROWS})
    paper = means({k: list(v) for k, v in PAPER_TABLE4.items()})

    def recovery(m: dict[str, float]) -> str:
        lost = m["digital"] - m["analog_before"]
        won = m["analog_after"] - m["analog_before"]
        share = f", {100 * won / lost:.0f} % of the loss" if lost > 0 else ""
        return f"costs {lost:.2f} points, AHWA-LoRA wins back {won:+.2f}{share}"

    lines = [
        f"* Table IV mean: 6.7 % weight noise {recovery(ours)} (paper: {recovery(paper)}).",
    ]
    for kind in ("digital", "analog"):
        moved = grpo[f"{kind}_after"]["accuracy"] - grpo[f"{kind}_before"]["accuracy"]
        theirs = PAPER_TABLE5[f"{kind}_after"] - PAPER_TABLE5[f"{kind}_before"]
        lines.append(f"* GRPO, {kind}: {moved:+.2f} points of accuracy (paper: {theirs:+.2f}).")
    return "\n".join(lines) + "\n"


def write_results(
    results_dir: Path, table4: dict, sweep: dict, grpo: dict, sizes: Any, out: Path
) -> dict[str, Any]:
    record = summary(table4, grpo)
    results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results_dir / "summary.json", record)
    atomic_write_json(
        results_dir / "study.json",
        {
            "sizes": asdict(sizes),
            "table4": table4,
            "sweep": sweep,
            "grpo": {k: {kk: vv for kk, vv in v.items()} for k, v in grpo.items()},
        },
    )
    text = [
        "# Decoder LLM: zero-shot (Table IV), noise sweep, GRPO (Table V)",
        "",
        f"Written by `analora llm study --out {out}`; sizes in `study.json`.",
        "",
        "## Table IV: zero-shot accuracy",
        "",
        sft_md(out),
        table4_md(table4),
        "## Evaluation noise",
        "",
        sweep_md(sweep),
        "## Table V: math problems, GRPO",
        "",
        _grpo_setting_md(sizes) + table5_md(grpo) + _grpo_log_md(out),
        "## Against the paper",
        "",
        versus_paper_md(table4, grpo),
    ]
    atomic_write_text(results_dir / "tables.md", "\n".join(text))
    return record
