"""``analora train``: a short run, the output-directory contract, resume."""

from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def argv(tmp_path, minilm_dir):  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "RTE").is_dir():
        pytest.skip(f"RTE not found under {DATA}")
    return [
        "train",
        "--method",
        "ahwa-lora",
        "--model",
        "minilm",
        "--task",
        "rte",
        "--data-dir",
        str(DATA),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-train-examples",
        "16",
        "--max-eval-examples",
        "16",
        "--max-length",
        "32",
        "--lr",
        "1e-3",
    ]


def test_train_refuses_a_second_run_and_resumes(argv, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ahwa-lora on rte: 2 steps" in out and "accuracy" in out
    assert "head + 0 other" in out  # only the adapter and the head train
    run = tmp_path / "run"
    assert (run / "run.json").is_file() and (run / "adapter" / "analora_adapter.json").is_file()
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume", "--lr", "2e-3"]) == 2
    assert "lr" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0  # already finished: resumes to the end at once


def test_train_rejects_a_qa_task(argv, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = [a if a != "rte" else "squad" for a in argv]
    assert main(argv) == 2
    assert "not supported" in capsys.readouterr().err
