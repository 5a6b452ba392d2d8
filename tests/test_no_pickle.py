"""Loading a crafted malicious file executes nothing.

Every file analora reads back is safetensors, JSON or YAML. A pickle whose
unpickling would run code is dropped where a chip, an adapter or a training
checkpoint is expected, under the names a pickle-reading loader would try; the
load must fail with a clear error and the payload must never run.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from analora.cli import main
from analora.errors import AnaloraError

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


class _Payload:
    """Unpickling this creates the marker file (a stand-in for any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _plant(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(_Payload(marker)))


def test_malicious_files_never_run(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    from transformers import BertForSequenceClassification

    from analora.adapters import load_adapter
    from analora.analog import convert, load_chip
    from analora.hardware import load_hardware
    from analora.training.checkpoint import load_checkpoint

    live = tmp_path / "LIVE"
    pickle.loads(pickle.dumps(_Payload(live)))  # the payload is real: unpickling runs it
    assert live.exists()
    marker = tmp_path / "PWNED"
    # A real run to tamper with: a chip-less adapter run with checkpoints.
    run = tmp_path / "run"
    argv = ["train", "--method", "ahwa-lora", "--model", str(tiny_dir), "--task", "sst2"]
    argv += ["--data-dir", str(DATA), "--max-train-examples", "8", "--max-eval-examples", "8"]
    assert main([*argv, "--max-length", "16", "--epochs", "1", "--out", str(run)]) == 0
    chip_dir = tmp_path / "chip"
    program = ["chip", "program", "--model", str(tiny_dir), "--model-class"]
    assert main([*program, "sequence-classification", "--out", str(chip_dir), "--quiet"]) == 0

    def fresh():  # type: ignore[no-untyped-def]
        return BertForSequenceClassification.from_pretrained(str(tiny_dir))

    # Adapter: the safetensors weights replaced by a pickle under peft's fallback name.
    bad_adapter = tmp_path / "adapter"
    shutil.copytree(run / "adapter", bad_adapter)
    (bad_adapter / "adapter_model.safetensors").unlink()
    _plant(bad_adapter / "adapter_model.bin", marker)
    model = fresh()
    convert(model, load_hardware("paper-pcm"), exclude=["classifier"])
    with pytest.raises(AnaloraError):
        load_adapter(model, bad_adapter)
    # Chip: a pickle where the tensors belong (and under a pickle name beside it).
    bad_chip = tmp_path / "bad-chip"
    shutil.copytree(chip_dir, bad_chip)
    _plant(bad_chip / "chip.safetensors", marker)
    _plant(bad_chip / "chip.pt", marker)
    with pytest.raises(AnaloraError):
        load_chip(bad_chip, fresh())
    # Checkpoint: the tensor file replaced by a pickle.
    bad_ckpt = tmp_path / "ckpt"
    shutil.copytree(run / "checkpoints" / "last", bad_ckpt)
    for f in bad_ckpt.glob("*.safetensors"):
        _plant(f, marker)
    with pytest.raises(AnaloraError):
        load_checkpoint(bad_ckpt, fresh(), None, None)  # type: ignore[arg-type]
    # Resuming the run over a planted checkpoint fails cleanly too.
    for f in (run / "checkpoints" / "last").glob("*.safetensors"):
        _plant(f, marker)
    assert main([*argv, "--max-length", "16", "--epochs", "1", "--out", str(run), "--resume"]) == 2
    assert not marker.exists(), "a pickle payload ran"
