"""CLI: happy path and bad input (one line, exit 2, nothing half-written)."""

import subprocess
import sys
from pathlib import Path

import pytest

from analora.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def programmed(tmp_path_factory, minilm_dir) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("chips") / "minilm"
    assert (
        main(["chip", "program", "--model", "minilm", "--seed", "3", "--out", str(out), "--quiet"])
        == 0
    )
    return out


def test_program_info_read(capsys, programmed) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "chip", "info", str(programmed))
    assert code == 0 and "tiles" in out and "61" in out and "chip fingerprint" in out
    code, out, _ = run(
        capsys, "chip", "read", str(programmed), "--model", "minilm", "--t-s", "0", "3600"
    )
    assert code == 0 and "3600" in out


def _one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_unknown_preset(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(
        capsys,
        "chip",
        "program",
        "--model",
        "minilm",
        "--hardware",
        "paper-pcn",
        "--out",
        str(tmp_path / "x"),
    )
    _one_line_error(code, err, "did you mean 'paper-pcm'")
    assert not (tmp_path / "x").exists()


def test_bad_field_value(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(
        capsys,
        "chip",
        "program",
        "--model",
        "minilm",
        "--set",
        "converters.adc_bits=0",
        "--out",
        str(tmp_path / "x"),
    )
    _one_line_error(code, err, "converters.adc_bits=0")
    assert not (tmp_path / "x").exists()


def test_unknown_model_offline(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(
        capsys, "chip", "program", "--model", "nobody/no-such-model", "--out", str(tmp_path / "x")
    )
    _one_line_error(code, err, "--model PATH")
    code, _, err = run(
        capsys,
        "chip",
        "program",
        "--model",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "x"),
    )
    _one_line_error(code, err, "does not exist")
    assert not (tmp_path / "x").exists()


def test_existing_chip_needs_overwrite(capsys, programmed) -> None:  # type: ignore[no-untyped-def]
    before = (programmed / "chip.json").read_bytes()
    code, _, err = run(capsys, "chip", "program", "--model", "minilm", "--out", str(programmed))
    _one_line_error(code, err, "--overwrite")
    assert (programmed / "chip.json").read_bytes() == before


def test_chip_from_other_model_or_hardware(capsys, programmed, tiny_bert, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiny_dir = tmp_path / "tiny"
    tiny_bert.save_pretrained(tiny_dir)
    code, _, err = run(capsys, "chip", "read", str(programmed), "--model", str(tiny_dir))
    _one_line_error(code, err, "another model")
    code, _, err = run(
        capsys, "chip", "read", str(programmed), "--model", "minilm", "--hardware", "paper-pcm-6bit"
    )
    _one_line_error(code, err, "paper-pcm-6bit")


def test_truncated_chip_file(capsys, programmed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(programmed, broken)
    data = (broken / "chip.safetensors").read_bytes()
    (broken / "chip.safetensors").write_bytes(data[:1000])
    code, _, err = run(capsys, "chip", "info", str(broken))
    _one_line_error(code, err, "checksum")
    code, _, err = run(capsys, "chip", "read", str(broken), "--model", "minilm")
    _one_line_error(code, err, "checksum")


def test_exit_code_from_a_real_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analora.cli",
            "hardware",
            "show",
            "paper-pcm",
            "--set",
            "output_noise_std=-1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "periphery.output_noise_std" in proc.stderr


def test_hardware_list_and_show(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "hardware", "list")
    assert code == 0 and "paper-pcm-6bit" in out and "ideal" in out
    code, out, _ = run(capsys, "hardware", "show", "paper-pcm", "--set", "adc_bits=6")
    assert code == 0 and "adc_bits: 6" in out
