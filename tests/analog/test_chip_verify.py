"""`chip info` verifies what `chip read` verifies: a damaged or forged chip is
refused by both with one line, exit status 2 and no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file, save_file
from torch import nn

from analora.analog.chip import Chip
from analora.cli import main
from analora.files import sha256_file
from analora.hardware import load_hardware
from analora.hardware.devices import make_device


@pytest.fixture(scope="module")
def chip_dir(tmp_path_factory, tiny_dir: Path) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("chips") / "tiny"
    argv = ["chip", "program", "--model", str(tiny_dir), "--seed", "2", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    return out


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys: Any, argv: list[str], *fragments: str) -> None:
    code, out, err = _run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "fingerprint" not in out
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _forge(src: Path, dst: Path, edit, *, refingerprint: bool, report=None) -> Path:  # type: ignore[no-untyped-def]
    """A copy of a chip with its tensors edited and its checksum (and, if
    asked, its fingerprint) recomputed, as a forger would."""
    shutil.copytree(src, dst)
    flat = load_file(str(dst / "chip.safetensors"))
    edit(flat)
    save_file(flat, str(dst / "chip.safetensors"))
    meta = json.loads((dst / "chip.json").read_text())
    meta["tensors_sha256"] = sha256_file(dst / "chip.safetensors")
    if report is not None:
        report(meta)
    if refingerprint:
        state: dict[str, dict[str, Any]] = {}
        for key, t in flat.items():
            layer, _, name = key.partition("::")
            state.setdefault(layer, {})[name] = t
        hw = load_hardware(meta["hardware"]["name"])
        chip = Chip(
            nn.Module(), hw, meta["seed"], meta["model_fingerprint"], make_device(hw.device), state
        )
        meta["fingerprint"] = chip.fingerprint()
    (dst / "chip.json").write_text(json.dumps(meta))
    return dst


def _first(flat: dict[str, Any], name: str) -> str:
    return sorted(k for k in flat if k.endswith("::" + name))[0]


def _narrow(flat: dict[str, Any]) -> None:
    key = _first(flat, "g_prog_uS")
    flat[key] = flat[key][..., :-1].contiguous()


def _shift(flat: dict[str, Any]) -> None:
    key = _first(flat, "nu")
    flat[key] = flat[key] + 0.01


def test_intact_chip_passes_both(capsys, chip_dir: Path, tiny_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsys, "chip", "info", str(chip_dir))
    assert code == 0 and "chip fingerprint" in out
    code, out, _ = _run(
        capsys, "chip", "read", str(chip_dir), "--model", str(tiny_dir), "--t-s", "0"
    )
    assert code == 0


@pytest.mark.parametrize("refingerprint", [False, True])
def test_forged_shape_refused_by_info_and_read(
    capsys, chip_dir, tiny_dir, tmp_path, refingerprint
) -> None:  # type: ignore[no-untyped-def]
    forged = _forge(chip_dir, tmp_path / "forged", _narrow, refingerprint=refingerprint)
    fragment = "g_prog_uS"  # the shapes are checked before the fingerprint
    _refused(capsys, ["chip", "info", str(forged)], fragment, "re-program")
    read = ["chip", "read", str(forged), "--model", str(tiny_dir), "--t-s", "0"]
    _refused(capsys, read, fragment, "re-program")


def test_forged_values_refused_by_fingerprint(capsys, chip_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    forged = _forge(chip_dir, tmp_path / "forged", _shift, refingerprint=False)
    _refused(capsys, ["chip", "info", str(forged)], "does not match its fingerprint")


def test_forged_shape_and_report_refused_by_read(capsys, chip_dir, tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A forgery consistent with itself (sizes in chip.json edited to match):
    only the model can tell, and `chip read` does."""

    def drop_input(flat: dict[str, Any]) -> None:
        layer = _first(flat, "g_prog_uS").partition("::")[0]
        for key in [k for k in flat if k.startswith(layer + "::")]:
            if key.endswith(("g_prog_uS", "nu")):
                flat[key] = flat[key][..., :-1].contiguous()

    def report(meta: dict[str, Any]) -> None:
        layer = sorted(meta["layers"])[0]
        for entry in meta["report"]["layers"]:
            if entry["name"] == layer:
                entry["in_features"] -= 1

    forged = _forge(chip_dir, tmp_path / "f", drop_input, refingerprint=True, report=report)
    assert main(["chip", "info", str(forged)]) == 0  # nothing in the directory contradicts it
    capsys.readouterr()
    read = ["chip", "read", str(forged), "--model", str(tiny_dir), "--t-s", "0"]
    _refused(capsys, read, "g_prog_uS", "expected float32")


def test_truncated_or_missing_tensors(capsys, chip_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = shutil.copytree(chip_dir, tmp_path / "cut")
    data = (d / "chip.safetensors").read_bytes()
    (d / "chip.safetensors").write_bytes(data[: len(data) // 2])
    _refused(capsys, ["chip", "info", str(d)], "checksum")
    (d / "chip.json").write_text("{")
    _refused(capsys, ["chip", "info", str(d)], "chip.json")
