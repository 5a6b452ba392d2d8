"""Model files: a model written by analora is covered by checksums, and a
damaged model directory is refused in one line (library and CLI)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from analora.analog import convert, load_analog_model, save_analog_model
from analora.cli import main
from analora.errors import AnaloraError, ModelLoadError
from analora.hardware import load_hardware
from analora.models import load_model


@pytest.fixture
def saved(tiny_bert, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    model = copy.deepcopy(tiny_bert)
    convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
    return save_analog_model(model, tmp_path / "model", "sequence-classification")


def test_every_file_of_an_analog_model_is_checked(saved: Path) -> None:
    meta = json.loads((saved / "analog_model.json").read_text())
    assert set(meta["files_sha256"]) == {"config.json", "analog_model.safetensors"}
    assert load_analog_model(saved) is not None
    config = json.loads((saved / "config.json").read_text())
    config["num_labels"] = 2
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(AnaloraError, match=r"config\.json .* does not match its checksum"):
        load_analog_model(saved)


def test_truncated_analog_model(saved: Path) -> None:
    path = saved / "analog_model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(AnaloraError) as exc:
        load_analog_model(saved)
    assert "\n" not in str(exc.value) and "retrain or recopy" in str(exc.value)


def test_older_analog_models_still_load(saved: Path) -> None:
    meta = json.loads((saved / "analog_model.json").read_text())
    del meta["files_sha256"]
    (saved / "analog_model.json").write_text(json.dumps(meta))
    assert load_analog_model(saved) is not None
    (saved / "config.json").write_text("{")
    with pytest.raises(AnaloraError, match="unreadable"):
        load_analog_model(saved)


def test_truncated_model_directory_through_cli(capsys, tiny_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = shutil.copytree(tiny_dir, tmp_path / "copy")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match="damaged or incomplete"):
        load_model(str(model))
    out = tmp_path / "chip"
    code = main(["chip", "program", "--model", str(model), "--out", str(out), "--quiet"])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "copy the model directory again" in lines[0], err
    assert not out.exists()
