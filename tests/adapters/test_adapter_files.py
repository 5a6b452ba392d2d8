"""Adapter files: peft format plus binding metadata; wrong bindings refused."""

import copy
import json

import pytest
import torch

from analora import load_hardware, program
from analora.adapters import AdapterError, add_lora, load_adapter, read_adapter_meta, save_adapter
from analora.files import sha256_file


@pytest.fixture
def trained(tiny_bert, ids):  # type: ignore[no-untyped-def]
    base = copy.deepcopy(tiny_bert)
    chip = program(base, load_hardware("paper-pcm"), seed=1, exclude=["classifier"])
    model = add_lora(base, head=["classifier"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0, 0.05)
    return chip, model


def _fresh(tiny_bert, seed: int = 1, preset: str = "paper-pcm"):  # type: ignore[no-untyped-def]
    base = copy.deepcopy(tiny_bert)
    return program(base, load_hardware(preset), seed=seed, exclude=["classifier"])


def test_round_trip(trained, tiny_bert, ids, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chip, model = trained
    d = save_adapter(
        model, tmp_path / "a", task="sst2", method="ahwa-lora", seed=0, metrics={"accuracy": 50.0}
    )
    meta = read_adapter_meta(d)
    assert meta["method"] == "ahwa-lora" and meta["chip_fingerprint"] is None
    assert meta["metrics"] == {"accuracy": 50.0} and meta["hardware"]["name"] == "paper-pcm"
    chip2 = _fresh(tiny_bert)
    loaded = load_adapter(chip2.model, d)
    chip.read(3600.0)
    chip2.read(3600.0)
    model.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)


def test_other_base_model_or_hardware_refused(trained, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, model = trained
    d = save_adapter(model, tmp_path / "a", task="sst2", method="ahwa-lora", seed=0)
    other = copy.deepcopy(tiny_bert)
    with torch.no_grad():
        other.bert.pooler.dense.weight.add_(0.1)
    chip = program(other, load_hardware("paper-pcm"), seed=1, exclude=["classifier"])
    with pytest.raises(AdapterError, match="another base model"):
        load_adapter(chip.model, d)
    with pytest.raises(AdapterError, match="hardware"):
        load_adapter(_fresh(tiny_bert, preset="paper-pcm-6bit").model, d)


def test_chip_bound_adapter_needs_its_chip(trained, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    chip, model = trained
    d = save_adapter(model, tmp_path / "a", task="sst2", method="chip-lora", seed=0, chip=chip)
    assert read_adapter_meta(d)["chip_fingerprint"] == chip.fingerprint()
    same = _fresh(tiny_bert, seed=1)
    with pytest.raises(AdapterError, match="pass that chip"):
        load_adapter(same.model, d)
    other = _fresh(tiny_bert, seed=2)
    with pytest.raises(AdapterError, match="bound to chip"):
        load_adapter(other.model, d, chip=other)
    load_adapter(same.model, d, chip=same)  # the same programmed chip, rebuilt from its seed


def test_corrupted_or_foreign_files_refused(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, model = trained
    d = save_adapter(model, tmp_path / "a", task="sst2", method="ahwa-lora", seed=0)
    with pytest.raises(AdapterError, match="not empty"):
        save_adapter(model, d, task="sst2", method="ahwa-lora", seed=0)
    data = (d / "adapter_model.safetensors").read_bytes()
    (d / "adapter_model.safetensors").write_bytes(data[:-10])
    with pytest.raises(AdapterError, match="checksum"):
        read_adapter_meta(d)
    model.save_pretrained(tmp_path / "plain")  # peft only, no analora metadata
    with pytest.raises(AdapterError, match=r"analora_adapter\.json"):
        read_adapter_meta(tmp_path / "plain")


def _edit_config(d, **changes):  # type: ignore[no-untyped-def]
    path = d / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def _drop_file_checksums(d) -> None:  # type: ignore[no-untyped-def]
    """Make the metadata look like an adapter saved before every file had a checksum."""
    meta = json.loads((d / "analora_adapter.json").read_text())
    del meta["files_sha256"]
    (d / "analora_adapter.json").write_text(json.dumps(meta))


def _one_line(exc: pytest.ExceptionInfo[AdapterError], *fragments: str) -> None:
    msg = str(exc.value)
    assert ("\n" not in msg and "re-save the adapter" in msg) or "restore it" in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg


def test_every_file_is_covered(trained, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, model = trained
    d = save_adapter(model, tmp_path / "a", task="sst2", method="ahwa-lora", seed=0)
    listed = read_adapter_meta(d)["files_sha256"]
    assert set(listed) == {p.name for p in d.iterdir()} - {"analora_adapter.json"}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(listed)
    config = json.loads((d / "adapter_config.json").read_text())
    targets = config["target_modules"]
    cases = {
        "raised lora_alpha": {"lora_alpha": config["lora_alpha"] * 4},
        "cut target_modules": {"target_modules": targets[:1]},
        "changed r": {"r": config["r"] + 4},
    }
    original = (d / "adapter_config.json").read_bytes()
    for what, change in cases.items():
        _edit_config(d, **change)
        with pytest.raises(AdapterError) as exc:
            load_adapter(_fresh(tiny_bert).model, d)
        _one_line(exc, "adapter_config.json", "checksum")
        (d / "adapter_config.json").write_bytes(original)
        assert read_adapter_meta(d), what
    (d / "adapter_config.json").write_text("{ not json")
    with pytest.raises(AdapterError) as exc:
        read_adapter_meta(d)
    _one_line(exc, "adapter_config.json")
    (d / "adapter_config.json").unlink()
    with pytest.raises(AdapterError, match=r"adapter_config\.json is missing"):
        read_adapter_meta(d)


def test_older_adapters_load_and_are_checked_for_consistency(trained, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, model = trained
    d = save_adapter(model, tmp_path / "a", task="sst2", method="ahwa-lora", seed=0)
    _drop_file_checksums(d)
    load_adapter(_fresh(tiny_bert).model, d)  # saved before every file had a checksum: loads
    config = json.loads((d / "adapter_config.json").read_text())
    original = (d / "adapter_config.json").read_bytes()
    cases = [
        ({"r": config["r"] + 4}, f"has r={config['r'] + 4}, but the weights of"),
        ({"target_modules": config["target_modules"][1:]}, "does not target"),
        (
            {"target_modules": [*config["target_modules"], "bert.encoder.layer.9.output.dense"]},
            "no weights",
        ),
        ({"r": "8"}, "not an integer"),
        ({"lora_alpha": -1}, "lora_alpha=-1"),
    ]
    for change, fragment in cases:
        _edit_config(d, **change)
        with pytest.raises(AdapterError) as exc:
            load_adapter(_fresh(tiny_bert).model, d)
        _one_line(exc, "adapter_config.json", fragment)
        (d / "adapter_config.json").write_bytes(original)
    weights = d / "adapter_model.safetensors"
    meta = json.loads((d / "analora_adapter.json").read_text())
    weights.write_bytes(b"\xff" * 16)
    meta["weights_sha256"] = sha256_file(weights)  # a forged file with a matching checksum
    (d / "analora_adapter.json").write_text(json.dumps(meta))
    with pytest.raises(AdapterError, match="not a safetensors file"):
        read_adapter_meta(d)


def test_adapter_bytes_do_not_depend_on_string_hashing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """peft orders target_modules by set iteration, which PYTHONHASHSEED
    changes: two processes must still write the same adapter_config.json."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from transformers import BertConfig, BertForSequenceClassification\n"
        "from analora import load_hardware, program\n"
        "from analora.adapters import add_lora, save_adapter\n"
        "torch.manual_seed(0)\n"
        "cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,"
        " num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)\n"
        "m = BertForSequenceClassification(cfg).eval()\n"
        "program(m, load_hardware('paper-pcm'), seed=1, exclude=['classifier'])\n"
        "save_adapter(add_lora(m, head=['classifier']), sys.argv[1], task='sst2',"
        " method='ahwa-lora', seed=0)\n"
    )
    written = []
    for hash_seed in ("1", "2", "3"):
        out = tmp_path / f"a{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-c", code, str(out)], env=env, check=True)
        written.append((out / "adapter_config.json").read_bytes())
    assert written[0] == written[1] == written[2]
