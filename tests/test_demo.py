"""The demo end to end in its fast mode (tiny subsets), and its refusals."""

from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def test_demo_fast_mode_runs_every_step_and_reruns(minilm_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    argv = ["demo", "--fast", "--data-dir", str(DATA), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "48 training and 32 dev sentences" in printed  # sizes are stated
    for part in ("chip/chip.json", "ahwa-lora/adapter", "digital/model", "direct/deployment.json"):
        assert (out / part).exists(), part
    for method in ("digital", "direct", "ahwa-lora"):
        assert (out / "sweeps" / method / "results.json").is_file()
    report = (out / "report" / "report.md").read_text()
    assert "| ahwa-lora | 3 |" in report and "| direct | 3 |" in report and "10 y" in report
    assert (out / "report" / "sst2.png").is_file() and (out / "report" / "report.html").is_file()
    assert f"everything is under {out}" in printed
    # A rerun reuses every finished step.
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert again.count("reusing it") == 4
    assert (out / "report" / "report.md").read_text() == report


def test_demo_offline_without_data_stops_at_once(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import analora.hub

    monkeypatch.delenv("ANALORA_DATA_DIR", raising=False)
    monkeypatch.setattr(analora.hub, "hub_reachable", lambda *a, **k: False)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "ANALORA_DATA_DIR" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()
