"""The LoRA branches' dropout: nn.Dropout's contract with a cheaper mask."""

from pathlib import Path

import pytest
import torch

from analora.adapters.dropout import LEVELS, LoraDropout, keep_mask, use_lora_dropout


def test_drops_at_the_rate_and_keeps_the_expectation() -> None:
    torch.manual_seed(0)
    n = 1_000_000
    y = LoraDropout(0.1).train()(torch.ones(n))
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 5 * (0.1 * 0.9 / n) ** 0.5  # five binomial sigmas
    kept = y[y != 0]
    assert torch.all(kept == kept[0])
    p_rounded = round(0.1 * LEVELS) / LEVELS
    assert kept[0].item() * (1 - p_rounded) == pytest.approx(1.0, abs=1e-6)


def test_the_four_lanes_of_a_word_are_independent() -> None:
    """Each 64-bit draw feeds four elements; neighbours must not share a fate."""
    torch.manual_seed(1)
    keep, _ = keep_mask(torch.Size([400_000, 4]), 0.5, torch.device("cpu"))
    both = (keep[:, 0] & keep[:, 1]).float().mean().item()
    first_last = (keep[:, 0] & keep[:, 3]).float().mean().item()
    for joint in (both, first_last):
        assert abs(joint - 0.25) < 0.005


def test_seeded_by_torch_and_identity_in_eval() -> None:
    x = torch.randn(8, 33)
    drop = LoraDropout(0.3).train()
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    assert torch.equal(a, drop(x))
    assert not torch.equal(a, drop(x))
    assert drop.eval()(x) is x
    assert LoraDropout(0.0).train()(x) is x


def test_gradient_flows_through_kept_elements_only() -> None:
    x = torch.randn(64, 16, requires_grad=True)
    torch.manual_seed(2)
    y = LoraDropout(0.25).train()(x)
    y.sum().backward()
    assert x.grad is not None
    dropped = y == 0
    assert torch.all(x.grad[dropped] == 0)
    assert torch.allclose(x.grad[~dropped], torch.full_like(x.grad[~dropped], 4 / 3))


def test_bad_probability_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LoraDropout(1.0)


@pytest.mark.parametrize("method", ["digital-lora", "ahwa-lora"])
def test_the_adapter_methods_train_with_it(method, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora import load_hardware
    from analora.training import TrainConfig
    from analora.training.methods import LoraSettings, MethodJob, run_method

    ids = torch.randint(0, 120, (8, 10), generator=torch.Generator().manual_seed(0))
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids[:, 0] % 3}
    job = MethodJob(
        method=method, model=tiny_bert, task="mnli", train_data=data, eval_data=data,
        out=Path(tmp_path), hardware=load_hardware("paper-pcm"), lora=LoraSettings(),
        config=TrainConfig(epochs=1, batch_size=4, lr=1e-3, seed=0, primary_metric="accuracy"),
    )  # fmt: skip
    model = run_method(job).model
    kinds = {type(m).__name__ for m in model.modules() if hasattr(m, "lora_dropout")}
    drops = [
        d for m in model.modules() if hasattr(m, "lora_dropout") for d in m.lora_dropout.values()
    ]
    assert kinds and drops and all(isinstance(d, LoraDropout) for d in drops), kinds


def test_use_lora_dropout_leaves_other_dropouts() -> None:
    from peft import LoraConfig, get_peft_model
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2), nn.Linear(4, 2))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["0", "2"], lora_dropout=0.1))
    assert use_lora_dropout(peft_model) == 2
    assert isinstance(peft_model.base_model.model[1], nn.Dropout)
