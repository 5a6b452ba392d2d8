"""The ``analora tasks`` verbs, run in-process through ``register``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from analora.errors import DataError
from analora.tasks.cli import register


def run(capsys, *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser(prog="analora")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(list(argv))
    code = args.func(args)
    return code, capsys.readouterr().out


def test_list(capsys) -> None:  # type: ignore[no-untyped-def]
    for argv in (("tasks",), ("tasks", "list")):
        code, out = run(capsys, *argv)
        assert code == 0
        lines = out.splitlines()
        assert lines[0].split() == ["task", "head", "metrics", "primary", "length", "vendored"]
        assert any(ln.startswith("mrpc") and "f1, accuracy" in ln for ln in lines)
        assert any(ln.startswith("qnli") and ln.rstrip().endswith("-") for ln in lines)
        assert "NOT the official protocol" in out


def test_show_rte(capsys, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code, out = run(capsys, "tasks", "show", "rte", "--data-dir", str(data_dir))
    assert code == 0
    # README: RTE train 1,249 entailment / 1,241 not_entailment
    assert "train: 2490 rows; entailment 1249 (50.2%), not_entailment 1241 (49.8%)" in out
    assert "validation: 277 rows" in out and "sentence1:" in out
    assert "label: 1 (not_entailment)" in out  # train.tsv row 0


def test_show_subsets_and_squad(capsys, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    argv = ("tasks", "show", "sst2", "--data-dir", str(data_dir), "--max-eval-examples", "100")
    code, out = run(capsys, *argv)
    # 444/872 positive -> 100*444/872 = 50.9 -> 51 positive, 49 negative
    assert code == 0 and "validation: 100 of 872 rows; negative 49 (49.0%), positive 51" in out
    code, out = run(capsys, "tasks", "show", "squad-devsplit", "--data-dir", str(data_dir))
    assert code == 0 and "38 articles" in out and "10 articles" in out and "NOT" in out
    code, out = run(capsys, "tasks", "show", "stsb", "--data-dir", str(data_dir))
    assert code == 0 and "score mean" in out and "range 0.000..5.000" in out


def test_show_errors(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="did you mean 'cola'"):
        run(capsys, "tasks", "show", "colaa", "--data-dir", str(tmp_path))
    with pytest.raises(DataError, match="no rte files"):
        run(capsys, "tasks", "show", "rte", "--source", "local", "--data-dir", str(tmp_path))
