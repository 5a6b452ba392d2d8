"""``analora bank``: a bank built from trained runs, listed, extended,
shrunk and swept in mixed-task batches; wrong bindings refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "glue").is_dir(), reason="needs ../shared/data")


def _train(tiny_dir: Path, out: Path, task: str, *extra: str) -> Path:
    argv = ["train", "--method", "ahwa-lora", "--model", str(tiny_dir), "--task", task]
    argv += ["--data-dir", str(DATA), "--out", str(out), "--max-train-examples", "16"]
    argv += ["--max-eval-examples", "12", "--max-length", "16", "--batch-size", "8"]
    argv += ["--epochs", "1", *extra]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def runs(tiny_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("bank-runs")
    return {
        "sst2": _train(tiny_dir, root / "sst2", "sst2"),
        "stsb": _train(tiny_dir, root / "stsb", "stsb"),
        "rte": _train(tiny_dir, root / "rte", "rte"),
        "sst2-6bit": _train(tiny_dir, root / "sst2-6bit", "sst2", "--hardware", "paper-pcm-6bit"),
        "sst2-chip": _train(
            tiny_dir, root / "sst2-chip", "sst2", "--method", "chip-lora", "--chip-seed", "5"
        ),
    }


def test_add_list_remove(runs, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "bank"
    for task in ("sst2", "stsb", "rte"):
        assert main(["bank", "add", str(bank), str(runs[task])]) == 0
    assert main(["bank", "list", str(bank)]) == 0
    out = capsys.readouterr().out
    assert "3 adapters" in out and "any chip" in out
    record = json.loads((bank / "bank.json").read_text())
    assert list(record["adapters"]) == ["sst2", "stsb", "rte"]
    # stsb is a regression head (1 output), the others 2.
    assert record["adapters"]["stsb"]["head_params"] == 32 + 1
    assert record["adapters"]["sst2"]["head_params"] == 2 * 32 + 2
    assert record["adapters"]["sst2"]["fp16_bytes"] == 2 * (
        record["adapters"]["sst2"]["lora_params"] + 66
    )
    assert main(["bank", "remove", str(bank), "rte"]) == 0
    assert not (bank / "adapters" / "rte").exists()
    assert main(["bank", "add", str(bank), str(runs["sst2"])]) == 2
    assert "already holds 'sst2'" in capsys.readouterr().err
    assert main(["bank", "add", str(bank), str(runs["sst2"]), "--name", "sst2-b"]) == 0
    assert main(["bank", "remove", str(bank), "rt"]) == 2
    assert "no adapter 'rt'" in capsys.readouterr().err


def test_refusals(runs, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "bank"
    assert main(["bank", "add", str(bank), str(runs["sst2"])]) == 0
    assert main(["bank", "add", str(bank), str(runs["sst2-6bit"]), "--name", "x"]) == 2
    err = capsys.readouterr().err
    assert "hardware 'paper-pcm-6bit'" in err and err.count("\n") == 1
    # A chip-calibrated adapter binds the bank to its chip; one for another chip is refused.
    assert main(["bank", "add", str(bank), str(runs["sst2-chip"]), "--name", "cal"]) == 0
    assert json.loads((bank / "bank.json").read_text())["chip"]["seed"] == 5
    other = tmp_path / "other-chip"
    assert main(["bank", "add", str(other), str(runs["sst2"])]) == 0
    record = json.loads((other / "bank.json").read_text())
    record["chip"] = {"seed": 6, "fingerprint": "0" * 64, "path": None}
    (other / "bank.json").write_text(json.dumps(record))
    assert main(["bank", "add", str(other), str(runs["sst2-chip"]), "--name", "cal"]) == 2
    assert "calibrated to chip" in capsys.readouterr().err
    assert main(["bank", "list", str(tmp_path / "none")]) == 2
    assert "analora bank add" in capsys.readouterr().err


def test_mixed_sweep_matches_single_task_sweeps(runs, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bank = tmp_path / "bank"
    for task in ("sst2", "stsb"):
        assert main(["bank", "add", str(bank), str(runs[task])]) == 0
    grid = ["--chips", "2", "--times", "0", "1y", "--data-dir", str(DATA)]
    sweep = ["bank", "sweep", str(bank), *grid, "--batch-size", "5", "--out", str(tmp_path / "s")]
    assert main([*sweep, "--device", "cpu"]) == 0  # the bank moves to --device
    for task in ("sst2", "stsb"):
        res = json.loads((tmp_path / "s" / task / "results.json").read_text())
        assert res["label"].startswith("ahwa-lora, bank of 2") and res["chip_seeds"] == [1000, 1001]
        assert len(res["cells"]) == 4
        alone_dir = tmp_path / f"alone-{task}"
        assert main(["sweep", "--deployment", str(runs[task]), *grid, "--out", str(alone_dir)]) == 0
        alone = json.loads((alone_dir / "results.json").read_text())
        assert alone["chip_ids"] == res["chip_ids"]  # the same chips
        assert alone["digital"] == pytest.approx(res["digital"], abs=1e-4)
    # A rerun with the same settings resumes (nothing left to do); others are refused.
    assert (
        main(["bank", "sweep", str(bank), *grid, "--batch-size", "5", "--out", str(tmp_path / "s")])
        == 0
    )
    assert (
        main(["bank", "sweep", str(bank), *grid, "--batch-size", "6", "--out", str(tmp_path / "s")])
        == 2
    )
    assert "other settings" in capsys.readouterr().err
