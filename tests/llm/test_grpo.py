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


def _tiny_spec(model_dir, **changes):  # type: ignore[no-untyped-def]
    """One short GRPO run on the tiny Llama."""
    from analora.llm.analog import LoraSpec
    from analora.llm.grpo import GRPOSpec

    settings = dict(
        model=str(model_dir),
        steps=1,
        num_generations=2,
        max_completion_tokens=4,
        lr=1e-3,
        lora=LoraSpec(rank=2, alpha=4, dropout=0.0),
    )
    return GRPOSpec(**{**settings, **changes})


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
    from analora.llm.grpo import eval_problems, grpo_run, math_eval
    from analora.llm.models import load_causal_lm

    spec = _tiny_spec(tiny_llama_dir)
    record = grpo_run(spec, tmp_path / "grpo")
    assert record["log"] and "reward" in record["log"][0]
    assert (tmp_path / "grpo" / "adapter" / "adapter_model.safetensors").is_file()
    lm = load_causal_lm(str(tiny_llama_dir))
    res = math_eval(lm.model, lm.tokenizer, eval_problems(2), max_new_tokens=3)
    assert res["problems"] == 2 and 0.0 <= res["accuracy"] <= 100.0


@needs_gym
def test_a_configured_dataset_gives_easier_problems_with_worked_solutions() -> None:
    assert m.parse_dataset("chain_sum:max_terms=2,max_digits=1,allow_negation=false") == (
        "chain_sum",
        {"max_terms": 2, "max_digits": 1, "allow_negation": False},
    )
    probs = m.make_problems(3, 0, "chain_sum:max_terms=2,max_digits=1")
    for p in probs:
        expression = p.question.rsplit(":", 1)[1].strip().rstrip("=").strip()
        assert len(expression.split()) == 3  # two one-digit terms and an operator
        worked = f"{m.START}{expression} = {p.answer}{m.END}"
        assert p.solution == f"{worked}{m.SOL_START}{p.answer}{m.SOL_END}"
    with pytest.raises(m.AnaloraError, match="not key=value"):
        m.parse_dataset("chain_sum:max_terms")
    with pytest.raises(m.AnaloraError, match="not a reasoning-gym set"):
        m.make_problems(1, 0, "chain_sum:no_such_option=3")


@needs_gym
@needs_trl
def test_grpo_starts_from_a_saved_adapter(tiny_llama_dir, tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    from analora.llm.grpo import GRPOSpec, build_model

    fresh = _tiny_spec(tiny_llama_dir, lr=1e-2, dataset="chain_sum:max_terms=2,max_digits=1")
    first, _ = build_model(fresh)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in first.named_parameters():
            if "lora_B" in name:
                param.normal_()  # a fresh adapter's B is zero: make it one that trained
    saved = tmp_path / "first"
    first.save_pretrained(str(saved))
    spec = GRPOSpec(**{**fresh.__dict__, "init_adapter": str(saved)})
    model, _ = build_model(spec)
    start = load_file(str(saved / "adapter_model.safetensors"))
    state = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    b_keys = [k for k in start if "lora_B" in k]
    assert b_keys and any(start[k].abs().sum() > 0 for k in b_keys)
    for key, value in start.items():
        match = [v for k, v in state.items() if k.replace(".default", "") == key]
        assert len(match) == 1 and torch.equal(match[0], value), key
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    with pytest.raises(m.AnaloraError, match="not a directory"):
        GRPOSpec(init_adapter=str(tmp_path / "none"))
