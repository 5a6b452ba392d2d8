"""Adapter banks: several task adapters (heads of different sizes) on one
chip, switched by name and mixed within a batch; wrong bindings refused;
switching leaves the analog state and the memory alone."""

from __future__ import annotations

import copy
import gc
import resource

import pytest
import torch
from transformers import BertForSequenceClassification

from analora import load_hardware, program
from analora.adapters import AdapterError, add_lora, save_adapter
from analora.adapters.bank import AdapterBank

LABELS = {"cola": 2, "mnli": 3, "stsb": 1}


def _task_model(tiny_bert, num_labels: int):  # type: ignore[no-untyped-def]
    cfg = copy.deepcopy(tiny_bert.config)
    cfg.num_labels = num_labels
    model = BertForSequenceClassification(cfg).eval()
    model.bert.load_state_dict(tiny_bert.bert.state_dict())
    return model


def _adapter(
    tiny_bert, tmp_path, task: str, seed: int, method="ahwa-lora", chip_seed=1, preset="paper-pcm"
):  # type: ignore[no-untyped-def]
    model = _task_model(tiny_bert, LABELS.get(task, 2))
    chip = program(model, load_hardware(preset), seed=chip_seed, exclude=["classifier"])
    peft_model = add_lora(model, head=["classifier"], dropout=0.0)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if ".lora_B." in name or "modules_to_save" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return save_adapter(
        peft_model,
        tmp_path / f"{task}-{seed}-{chip_seed}",
        task=task,
        method=method,
        seed=seed,
        chip=chip if method == "chip-lora" else None,
    )


def _bank(tiny_bert, seed: int = 1, preset: str = "paper-pcm") -> AdapterBank:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    return AdapterBank(program(model, load_hardware(preset), seed=seed, exclude=["classifier"]))


@pytest.fixture
def bank(tiny_bert, tmp_path):  # type: ignore[no-untyped-def]
    b = _bank(tiny_bert)
    for k, task in enumerate(LABELS):
        b.add(task, _adapter(tiny_bert, tmp_path, task, seed=10 + k))
    return b


def test_switch_by_name_changes_only_the_digital_side(bank, ids) -> None:  # type: ignore[no-untyped-def]
    fingerprint = bank.chip.fingerprint()
    analog = {n: p.clone() for n, p in bank.model.named_parameters() if "tile_weight" in n}
    bank.chip.read(3600.0)
    outputs = {}
    for task, labels in LABELS.items():
        entry = bank.switch(task)
        assert bank.active == task
        bank.chip.read(3600.0)  # the same noise draws for every task
        outputs[task] = bank(input_ids=ids).logits
        assert outputs[task].shape == (ids.shape[0], labels)
        # A switch stands for the adapter's own bytes: LoRA + head at FP16.
        lora = sum(p.numel() for n, p in bank.model.named_parameters() if f".{task}." in n)
        assert entry.lora_params == lora
        assert entry.fp16_bytes == 2 * (lora + labels * 64 + labels)
    assert not torch.equal(outputs["cola"], outputs["mnli"][:, :2])
    # Switching back gives back the same outputs.
    bank.switch("cola")
    bank.chip.read(3600.0)
    assert torch.equal(bank(input_ids=ids).logits, outputs["cola"])
    assert bank.chip.fingerprint() == fingerprint
    for n, p in bank.model.named_parameters():
        if "tile_weight" in n:
            assert torch.equal(p, analog[n])


def test_bank_adapter_equals_the_adapter_loaded_alone(bank, tiny_bert, tmp_path, ids) -> None:  # type: ignore[no-untyped-def]
    from analora.adapters import load_adapter

    path = bank.entries["mnli"].path
    alone_model = _task_model(tiny_bert, 3)
    chip = program(alone_model, load_hardware("paper-pcm"), seed=1, exclude=["classifier"])
    alone = load_adapter(chip.model, path).eval()
    bank.switch("mnli")
    for t_s in (0.0, 86400.0):
        bank.chip.read(t_s)
        chip.read(t_s)
        with torch.no_grad():
            assert torch.equal(bank(input_ids=ids).logits, alone(input_ids=ids).logits)


def test_mixed_batch_equals_each_task_alone_with_the_same_draws(bank) -> None:  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 120, (7, 12), generator=gen)
    mask = torch.ones_like(ids)
    mask[2, 8:] = 0
    tasks = ["cola", "mnli", "stsb", "mnli", "cola", "stsb", "mnli"]
    fingerprint = bank.chip.fingerprint()
    bank.chip.read(86400.0, read_index=2)
    calls = []
    first = bank.model.get_base_model().bert.encoder.layer[0].attention.self.query.base_layer
    handle = first.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    mixed = bank.forward_mixed(tasks, input_ids=ids, attention_mask=mask)
    handle.remove()
    assert calls == [7]  # one analog pass for the whole mixed batch
    for task in LABELS:
        bank.switch(task)
        bank.chip.read(86400.0, read_index=2)  # the same noise draws again
        alone = bank(input_ids=ids, attention_mask=mask).logits
        for i, t in enumerate(tasks):
            if t == task:
                assert mixed[i].shape == (LABELS[task],)
                # Equal up to float rounding: the LoRA GEMM runs on a sub-batch here.
                torch.testing.assert_close(mixed[i], alone[i], rtol=0, atol=1e-5)
    assert bank.chip.fingerprint() == fingerprint


def test_refusals(bank, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = copy.deepcopy(tiny_bert)
    with torch.no_grad():
        other.bert.pooler.dense.weight.add_(0.1)
    foreign = tmp_path / "foreign"
    model = _task_model(other, 2)
    model.bert.load_state_dict(other.bert.state_dict())
    program(model, load_hardware("paper-pcm"), seed=1, exclude=["classifier"])
    save_adapter(
        add_lora(model, head=["classifier"]), foreign, task="sst2", method="ahwa-lora", seed=0
    )
    with pytest.raises(AdapterError, match="another base model"):
        bank.add("sst2", foreign)
    six_bit = _adapter(tiny_bert, tmp_path, "sst2", seed=3, preset="paper-pcm-6bit")
    with pytest.raises(AdapterError, match="hardware 'paper-pcm-6bit'"):
        bank.add("sst2", six_bit)
    # A chip-calibrated adapter: accepted on its own chip (seed 1), refused elsewhere.
    calibrated = _adapter(tiny_bert, tmp_path, "sst2", seed=4, method="chip-lora", chip_seed=1)
    bank.add("sst2", calibrated)
    with pytest.raises(AdapterError, match=r"calibrated to chip .* not this one"):
        _bank(tiny_bert, seed=2).add("sst2", calibrated)
    with pytest.raises(AdapterError, match="already holds 'sst2'"):
        bank.add("sst2", calibrated)
    with pytest.raises(AdapterError, match=r"no adapter 'sts'.*did you mean 'stsb'"):
        bank.switch("sts")
    with pytest.raises(AdapterError, match="one per example"):
        bank.forward_mixed(["cola"], input_ids=torch.zeros(2, 4, dtype=torch.long))
    assert bank.names == ["cola", "mnli", "stsb", "sst2"]


def test_remove(bank, ids) -> None:  # type: ignore[no-untyped-def]
    bank.switch("mnli")
    bank.remove("mnli")
    assert bank.names == ["cola", "stsb"] and bank.active == "cola"
    assert not any(".mnli." in n for n, _ in bank.model.named_parameters())
    bank.chip.read(0.0)
    assert bank(input_ids=ids).logits.shape == (3, 2)
    bank.remove("stsb")
    with pytest.raises(AdapterError, match="only adapter"):
        bank.remove("cola")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def test_switches_leave_memory_flat(bank, ids) -> None:  # type: ignore[no-untyped-def]
    bank.chip.read(0.0)
    names = bank.names
    for k in range(50):  # warm-up
        bank.switch(names[k % 3])
        bank(input_ids=ids)
    gc.collect()
    before = _rss_mib()
    for k in range(300):
        bank.switch(names[k % 3])
        bank(input_ids=ids)
    gc.collect()
    assert _rss_mib() - before < 8.0  # MiB; one adapter here is ~40 KiB


def test_pick_for_age(bank) -> None:  # type: ignore[no-untyped-def]
    from analora.adapters.bank import pick_for_age

    bands = {3600.0: "mnli", 31536000.0: "stsb"}
    assert pick_for_age(bands, 0.0, "cola") == "cola"
    assert pick_for_age(bands, 3600.0, "cola") == "mnli"
    assert pick_for_age(bands, 86400.0 * 30, "cola") == "mnli"
    assert pick_for_age(bands, 315360000.0, "cola") == "stsb"
    with pytest.raises(AdapterError, match="not been read"):
        bank.switch_for_age(bands, "cola")
    bank.chip.read(86400.0)
    assert bank.switch_for_age(bands, "cola").name == "mnli" and bank.active == "mnli"
