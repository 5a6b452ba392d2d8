"""The committed RESULTS.md and docs/results/summary.json are what
``analora study results-md`` builds from the committed results folder: no
number in them is edited by hand or left behind by an older rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_results_md_is_rebuilt_from_docs_results(tmp_path: Path) -> None:
    from analora.studies.analysis import rebuild_results_md

    results = tmp_path / "docs" / "results"
    shutil.copytree(ROOT / "docs" / "results", results)
    rebuild_results_md(results, tmp_path / "RESULTS.md")
    assert (tmp_path / "RESULTS.md").read_text(encoding="utf-8") == (ROOT / "RESULTS.md").read_text(
        encoding="utf-8"
    )
    rebuilt = (results / "summary.json").read_text(encoding="utf-8")
    assert rebuilt == (ROOT / "docs" / "results" / "summary.json").read_text(encoding="utf-8")
