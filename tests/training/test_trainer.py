"""The training loop: schedule, checkpoints, and bit-identical resume."""

import copy

import pytest
import torch

from analora import load_hardware
from analora.adapters import add_lora
from analora.analog import convert, post_update_step
from analora.training import TrainConfig, Trainer, TrainError, linear_schedule


@pytest.fixture
def template(tiny_bert):  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
    torch.manual_seed(0)
    return add_lora(model, head=["classifier"])


@pytest.fixture
def data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, 120, (36, 12), generator=g)
    return {"input_ids": ids, "labels": ids[:, 0] % 3}


def _eval(model) -> dict[str, float]:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(9)
    ids = torch.randint(0, 120, (16, 12), generator=g)
    model.eval()
    with torch.no_grad():
        pred = model(input_ids=ids).logits.argmax(-1)
    return {"accuracy": 100.0 * (pred == ids[:, 0] % 3).float().mean().item()}


def _trainable(model) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_schedule_warmup_then_linear_decay() -> None:
    f = linear_schedule(total_steps=10, warmup_steps=2)
    assert [round(f(s), 3) for s in range(10)] == [
        0.5,
        1.0,
        1.0,
        0.875,
        0.75,
        0.625,
        0.5,
        0.375,
        0.25,
        0.125,
    ]
    assert linear_schedule(4, 0)(0) == 1.0


def test_killed_run_resumes_bit_identical(template, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = TrainConfig(
        epochs=2, batch_size=8, lr=1e-2, warmup_ratio=0.1, seed=3, primary_metric="accuracy"
    )
    whole = copy.deepcopy(template)
    Trainer(whole, data, cfg, tmp_path / "a", eval_fn=_eval).train()

    first = copy.deepcopy(template)
    part = Trainer(first, data, cfg, tmp_path / "b", eval_fn=_eval).train(stop_after_steps=7)
    assert part.steps == 7  # killed inside the second epoch
    restarted = copy.deepcopy(template)  # a new process rebuilds the model...
    torch.manual_seed(12345)  # ...and starts with another RNG state
    result = Trainer(restarted, data, cfg, tmp_path / "b", eval_fn=_eval).train(resume=True)
    assert result.resumed_from_step == 7 and result.steps == 10
    a, b = _trainable(whole), _trainable(restarted)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "checkpoints" / "best").is_dir()
    # the loop time before the kill is kept in the checkpoint, not in the log
    assert part.prior_wall_s == 0.0 and result.prior_wall_s is not None
    assert result.prior_wall_s > 0
    log_a, log_b = (tmp_path / d / "train_log.json" for d in "ab")
    assert log_a.read_bytes() == log_b.read_bytes() and b"wall_s" not in log_b.read_bytes()


def test_only_trainable_parameters_change(template, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(template)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = _trainable(model)
    Trainer(model, data, TrainConfig(epochs=1, batch_size=12, lr=1e-2), tmp_path / "c").train()
    assert all(
        torch.equal(p, frozen[n]) for n, p in model.named_parameters() if not p.requires_grad
    )
    assert any(
        not torch.equal(p, before[n]) for n, p in model.named_parameters() if p.requires_grad
    )


def test_full_hardware_aware_training_updates_and_clips_analog_weights(
    tiny_bert, data, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    convert(model, load_hardware("paper-pcm"))
    layer = model.bert.encoder.layer[0].intermediate.dense
    for p in model.parameters():
        p.requires_grad_(True)
    before = layer.tile_weight.detach().clone()
    Trainer(
        model,
        data,
        TrainConfig(epochs=1, batch_size=12, lr=5e-2),
        tmp_path / "d",
        post_step=post_update_step,
    ).train()
    assert not torch.equal(layer.tile_weight, before)
    # Re-mapped after every step: each tile row uses the full range again.
    row_max = layer.tile_weight.abs().amax(-1)
    assert torch.allclose(row_max, torch.ones_like(row_max))


def test_bad_settings_and_missing_checkpoint(template, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TrainError, match="--lr"):
        TrainConfig(lr=0.0)
    with pytest.raises(TrainError, match="--warmup-ratio"):
        TrainConfig(warmup_ratio=1.5)
    # Killed before the first checkpoint: resuming starts from the beginning.
    result = Trainer(copy.deepcopy(template), data, TrainConfig(epochs=1), tmp_path / "e").train(
        resume=True
    )
    assert result.resumed_from_step is None and result.steps == 2


def test_full_hardware_aware_training_resumes_bit_identical(tiny_bert, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def fresh():  # type: ignore[no-untyped-def]
        model = copy.deepcopy(tiny_bert)
        convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    cfg = TrainConfig(epochs=2, batch_size=12, lr=1e-2, seed=4)
    whole = fresh()
    Trainer(whole, data, cfg, tmp_path / "a", post_step=post_update_step).train()
    killed = fresh()
    Trainer(killed, data, cfg, tmp_path / "b", post_step=post_update_step).train(stop_after_steps=4)
    restarted = fresh()  # a new process: only the checkpoint carries over
    Trainer(restarted, data, cfg, tmp_path / "b", post_step=post_update_step).train(resume=True)
    for (name, a), b in zip(
        whole.state_dict().items(), restarted.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
