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
    assert "From 0 s to 10 y on the same chip, ahwa-lora changes by" in report
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


def _results(scores: dict[float, list[float]]) -> dict:  # type: ignore[type-arg]
    cells = [
        {"chip_seed": 1000 + i, "t_s": t, "metrics": {"accuracy": v}}
        for t, values in scores.items()
        for i, v in enumerate(values)
    ]
    return {"primary_metric": "accuracy", "times_s": sorted(scores), "cells": cells}


def test_the_demo_compares_what_each_method_loses_on_the_same_chip() -> None:
    from analora.demo import drift_line

    ten_years = 315360000.0
    ahwa_lora = _results({0.0: [80.0, 81.0, 79.0], ten_years: [79.0, 80.0, 78.0]})
    direct = _results({0.0: [80.0, 80.0, 80.0], ten_years: [76.0, 77.0, 75.0]})
    line = drift_line(ahwa_lora, direct)
    assert "ahwa-lora changes by -1.00 points and direct by -4.00" in line
    assert "ahwa-lora loses 3.00 points less, paired over 3 chips" in line
    assert "loses 3.00 points more" in drift_line(direct, ahwa_lora)
    assert "a difference this demo can show" in line
    # Chip-to-chip noise as large as the effect: the demo says it cannot tell.
    noisy = _results({0.0: [80.0, 80.0, 80.0], ten_years: [70.0, 80.0, 80.0]})
    assert "cannot tell the two apart" in drift_line(ahwa_lora, noisy)
