"""LoRA on analog layers through peft's custom-module hook."""

import copy

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from analora import load_hardware, program
from analora.adapters import AdapterError, add_lora, target_layers, trainable_parameters
from analora.analog import convert


def _analog(model, preset: str = "paper-pcm"):  # type: ignore[no-untyped-def]
    m = copy.deepcopy(model)
    convert(m, load_hardware(preset), exclude=["classifier"])
    return m


def test_trainable_parameters_are_exactly_adapter_and_head(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    model = add_lora(_analog(tiny_bert), r=8, head=["classifier"])
    counts = trainable_parameters(model)
    # r (in + out) per target: 2 layers x (4 x 64->64 attention/pooler-free
    # linears + 64->600 + 600->64) plus the pooler 64->64.
    per_layer = 4 * 8 * (64 + 64) + 8 * (64 + 600) + 8 * (600 + 64)
    assert counts == {"lora": 2 * per_layer + 8 * (64 + 64), "head": 64 * 3 + 3, "other": 0}


def test_placements(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    m = _analog(tiny_bert)
    assert len(target_layers(m, "qkv")) == 6
    ffn = target_layers(m, "ffn")
    assert len(ffn) == 4 and not any("attention" in n for n in ffn)
    assert len(target_layers(m, "all")) == 13
    with pytest.raises(AdapterError, match="did you mean 'qkv'"):
        target_layers(m, "qvk")


def test_ideal_hardware_equals_digital_lora(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    analog = add_lora(_analog(tiny_bert, "ideal"), head=["classifier"])
    digital = get_peft_model(
        copy.deepcopy(tiny_bert),
        LoraConfig(
            r=8,
            lora_alpha=32,
            lora_dropout=0.1,
            target_modules=target_layers(_analog(tiny_bert)),
            modules_to_save=["classifier"],
        ),
    )
    torch.manual_seed(3)
    for name, p in analog.named_parameters():
        if ".lora_B." in name:
            p.data.normal_(0, 0.05)  # B starts at 0; make the branch matter
    digital.load_state_dict(
        {k: v for k, v in analog.state_dict().items() if ".lora_" in k or "modules_to_save" in k},
        strict=False,
    )
    analog.eval(), digital.eval()
    ya, yd = analog(input_ids=ids).logits, digital(input_ids=ids).logits
    assert (ya - yd).abs().max().item() < 1e-4
    ya.pow(2).sum().backward()
    yd.pow(2).sum().backward()
    ga = {n: p.grad for n, p in analog.named_parameters() if p.requires_grad}
    gd = {n: p.grad for n, p in digital.named_parameters() if p.requires_grad}
    assert ga.keys() == gd.keys()
    for n in ga:
        assert torch.allclose(ga[n], gd[n], atol=1e-5), n


def test_training_never_touches_the_chip(tiny_bert, ids) -> None:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    chip = program(model, load_hardware("paper-pcm"), seed=4, exclude=["classifier"])
    before = chip.live_fingerprint()  # the live analog tensors, not clones
    peft_model = add_lora(model, head=["classifier"]).train()
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for t_s in (None, 3600.0):
        if t_s is not None:
            chip.read(t_s)  # chip-calibrated training reads the programmed chip
        for _ in range(2):
            opt.zero_grad()
            peft_model(input_ids=ids).logits.pow(2).sum().backward()
            opt.step()
    assert chip.live_fingerprint() == before


def test_chip_reads_reach_the_wrapped_layers(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    chip = program(model, load_hardware("paper-pcm"), seed=4, exclude=["classifier"])
    peft_model = add_lora(model, head=["classifier"])
    chip.read(60.0)
    layers = [m for m in peft_model.modules() if type(m).__name__ == "AnalogLinear"]
    assert len(layers) == len(chip.state) == 13
    assert all(m.weight_source == "chip" and m.chip_weight is not None for m in layers)


def test_merging_into_analog_weights_is_refused(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    model = add_lora(_analog(tiny_bert), head=["classifier"])
    with pytest.raises(AdapterError, match="reprogram the chip"):
        model.merge_and_unload()


def test_an_analog_head_is_refused(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    m = copy.deepcopy(tiny_bert)
    convert(m, load_hardware("paper-pcm"))  # classifier mapped too
    with pytest.raises(AdapterError, match="keep the task head digital"):
        add_lora(m, head=["classifier"])


def test_saved_in_peft_format_and_loadable_on_the_digital_model(tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = add_lora(_analog(tiny_bert), head=["classifier"])
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    digital = PeftModel.from_pretrained(copy.deepcopy(tiny_bert), tmp_path / "adapter")
    a = dict(model.named_parameters())
    for name, p in digital.named_parameters():
        if ".lora_A." in name:
            assert torch.equal(p, a[name])
