"""Instruction tuning: only the adapters change; the run resumes; bad specs fail clearly."""

from __future__ import annotations

import pytest
import torch

from analora.errors import AnaloraError
from analora.hardware import load_hardware
from analora.llm.analog import LoraSpec, to_analog
from analora.llm.instructions import InstructionSpec
from analora.llm.models import load_causal_lm
from analora.llm.sft import SFTSpec, sft_run


def _spec(model_dir, alpaca_file, steps=2):  # type: ignore[no-untyped-def]
    return SFTSpec(
        model=str(model_dir),
        steps=steps,
        batch_size=2,
        lr=1e-2,
        warmup_steps=0,
        lora=LoraSpec(rank=4, alpha=8, dropout=0.0),
        data=InstructionSpec(sources=("alpaca",), alpaca=str(alpaca_file), max_length_tokens=96),
    )


def test_training_changes_only_the_adapters(tiny_llama_dir, alpaca_file, tmp_path) -> None:
    result = sft_run(_spec(tiny_llama_dir, alpaca_file), tmp_path / "run")
    trained = dict(result.model.named_parameters())
    # The same base, converted the same way, untouched.
    fresh = load_causal_lm(str(tiny_llama_dir)).model
    to_analog(fresh, load_hardware("paper-llm"))
    base = dict(fresh.named_parameters())
    n_base = 0
    for name, p in trained.items():
        if ".lora_" in name:
            continue
        key = name.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(p, base[key]), name
        n_base += 1
    assert n_base == len(base)
    lora_b = [p for n, p in trained.items() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero
    assert result.steps == 2 and (result.adapter / "adapter_model.safetensors").is_file()
    assert all("lora_" in k for k in _keys(result.adapter / "adapter_model.safetensors"))


def _keys(path):  # type: ignore[no-untyped-def]
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return list(f.keys())


def test_resume_ends_like_an_unbroken_run(tiny_llama_dir, alpaca_file, tmp_path) -> None:
    from analora.llm.sft import build_sft

    spec = _spec(tiny_llama_dir, alpaca_file, steps=3)
    whole = sft_run(spec, tmp_path / "whole")
    trainer, _ = build_sft(spec, tmp_path / "part")
    trainer.train(stop_after_steps=1)  # killed after one step
    resumed = sft_run(spec, tmp_path / "part", resume=True)
    assert resumed.losses == whole.losses


def test_bad_spec_is_a_clear_error(tmp_path, alpaca_file) -> None:
    with pytest.raises(AnaloraError, match="--warmup-steps"):
        SFTSpec(steps=2, warmup_steps=5)
    with pytest.raises(AnaloraError, match="--alpaca"):
        InstructionSpec(sources=("alpaca",))


def test_answer_loss_weights_batches_by_answer_tokens(tiny_llama_dir) -> None:
    from analora.llm.heldout import answer_loss

    lm = load_causal_lm(str(tiny_llama_dir))
    ids = torch.randint(0, 100, (3, 10), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[0, :8] = -100  # 1 answer token after the shift
    labels[1:, :2] = -100  # 7 each
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    logits = lm.model(input_ids=ids).logits[:, :-1]
    ce = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), reduction="sum"
    )
    expected = float(ce) / int((labels[:, 1:] != -100).sum())
    assert answer_loss(lm.model, data, batch_size=2) == pytest.approx(expected, rel=1e-5)


def test_a_system_turn_precedes_every_example_and_is_not_learned(tiny_llama_dir) -> None:
    from analora.llm.instructions import sft_tensors

    tok = load_causal_lm(str(tiny_llama_dir)).tokenizer
    pairs = [("What is 2 + 3?", "5"), ("And 4 - 1?", "3")]
    plain = sft_tensors(tok, pairs, 2, 200)
    framed = sft_tensors(tok, pairs, 2, 200, system="Answer with one number.")
    for i in range(2):
        text = tok.decode(framed["input_ids"][i][framed["attention_mask"][i].bool()])
        assert text.startswith("<|im_start|>system\nAnswer with one number.<|im_end|>")
        learned = framed["labels"][i][framed["labels"][i] != -100]
        assert torch.equal(learned, plain["labels"][i][plain["labels"][i] != -100])
