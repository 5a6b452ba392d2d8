"""GRPO: a step runs on the analog model; the rewards and the grader."""

from __future__ import annotations

import importlib.util

import pytest

from analora.llm import math as m

needs_gym = pytest.mark.skipif(
    importlib.util.find_spec("reasoning_gym") is None, reason="pip install reasoning-gym"
)
needs_trl = pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="pip install trl")

PERFECT = f"{m.START}6 times 7 is 42{m.END}{m.SOL_START}42{m.SOL_END}"


def test_rewards_reach_the_paper_maximum_only_when_perfect() -> None:
    assert m.total_reward(PERFECT, "42") == m.MAX_REWARD == 9.5
    wrong = PERFECT.replace(">42<", ">41<")
    assert m.total_reward(wrong, "42") == 3.0 + 2.0 - 1.0
    assert m.total_reward("the answer is 42", "42") == -4.0
    assert m.is_correct(PERFECT, "42") and m.is_correct("so it is 1,042.", "1042")
    assert not m.is_correct(wrong, "42")


@needs_gym
def test_problems_are_seeded_and_carry_worked_solutions() -> None:
    a, b = m.make_problems(2, 5), m.make_problems(2, 5)
    assert a == b and a[0] != a[1]
    assert all(p.solution.endswith(f"{m.SOL_START}{p.answer}{m.SOL_END}") for p in a)


@needs_gym
@needs_trl
def test_a_grpo_step_runs_on_the_analog_model(tiny_llama_dir, tmp_path) -> None:
    from analora.llm.analog import LoraSpec
    from analora.llm.grpo import GRPOSpec, eval_problems, grpo_run, math_eval
    from analora.llm.models import load_causal_lm

    spec = GRPOSpec(
        model=str(tiny_llama_dir),
        steps=1,
        num_generations=2,
        max_completion_tokens=4,
        lr=1e-3,
        lora=LoraSpec(rank=2, alpha=4, dropout=0.0),
    )
    record = grpo_run(spec, tmp_path / "grpo")
    assert record["log"] and "reward" in record["log"][0]
    assert (tmp_path / "grpo" / "adapter" / "adapter_model.safetensors").is_file()
    lm = load_causal_lm(str(tiny_llama_dir))
    res = math_eval(lm.model, lm.tokenizer, eval_problems(2), max_new_tokens=3)
    assert res["problems"] == 2 and 0.0 <= res["accuracy"] <= 100.0
