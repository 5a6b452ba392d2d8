"""CLI: happy path and bad input (one line, exit 2, nothing half-written)."""

import argparse
import errno
import os
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


# --- the process around a command: version, help, signals, OS errors -------

HEAVY = ("torch", "transformers", "datasets", "peft")


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    import analora

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert (
        exc.value.code == 0 and capsys.readouterr().out.strip() == f"analora {analora.__version__}"
    )


def test_help_imports_no_heavy_module() -> None:
    """`analora --help` stays fast because it imports none of torch,
    transformers, datasets or peft (the time itself is not asserted)."""
    code = (
        "import sys\nfrom analora.cli import main\n"
        "for argv in (['--help'], ['--version'], ['tasks', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert "tasks" in proc.stdout and "study" in proc.stdout  # every command is listed


def test_a_command_parses_as_before(capsys) -> None:  # type: ignore[no-untyped-def]
    from analora.cli import build_parser

    args = build_parser(["-v", "tasks", "show", "rte"]).parse_args(["-v", "tasks", "show", "rte"])
    assert args.global_verbose == 1 and args.task == "rte"
    full = build_parser()  # no argv: every command registered (used by in-process runners)
    argv = ["train", "--method", "digital", "--model", "m", "--task", "rte", "--out", "x"]
    assert full.parse_args(argv).task == "rte"


def test_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "analora.cli", "hardware", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head -1` does once it has its line
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == "", err


def _program_argv(tmp_path: Path) -> list[str]:
    return ["chip", "program", "--model", "minilm", "--out", str(tmp_path / "chip"), "--quiet"]


def _nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "chip").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".chip")], "a temporary was left"


def test_ctrl_c(capsys, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import analora.models

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(analora.models, "load_model", interrupted)
    code, _, err = run(capsys, *_program_argv(tmp_path))
    assert code == 130 and err.strip().splitlines() == [err.strip()] and "interrupted" in err
    assert "Traceback" not in err
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("errno_", "fragment"),
    [
        (errno.ENOSPC, "no space left"),
        (errno.EDQUOT, "quota"),
        (errno.EACCES, "choose a writable --out"),
        (errno.EROFS, "choose a writable --out"),
    ],
)
def test_os_errors_while_writing(capsys, tmp_path, monkeypatch, errno_, fragment) -> None:  # type: ignore[no-untyped-def]
    import analora.analog.chip_files

    def failing(tensors, path, metadata=None):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"half")  # a write cut off part way
        raise OSError(errno_, os.strerror(errno_), path)

    monkeypatch.setattr(analora.analog.chip_files, "save_file", failing)
    code, out, err = run(capsys, *_program_argv(tmp_path))
    _one_line_error(code, err, fragment)
    assert "chip.safetensors" in err and "saved to" not in out
    _nothing_written(tmp_path)


def test_out_under_a_file(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "chip"
    code, _, err = run(capsys, "chip", "program", "--model", "minilm", "--out", str(out), "--quiet")
    _one_line_error(code, err, "choose another --out")
    assert (tmp_path / "file").read_text() == "x"


def test_every_listed_command_is_registered_by_its_module() -> None:
    """The top-level list names each command's module; the module must define it."""
    from analora.cli import LAZY_COMMANDS, build_parser

    for name in LAZY_COMMANDS:
        parser = build_parser([name])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        real = sub.choices[name]
        assert real.add_help and len(real._actions) > 1, name  # not the placeholder


def _subcommand_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _subcommand_paths(child, (*prefix, name))
    return found


def test_every_command_and_verb_prints_its_help(capsys) -> None:  # type: ignore[no-untyped-def]
    """`--help` works at every level (a stray ``%`` in a help text breaks
    argparse's formatting with a traceback)."""
    from analora.cli import LAZY_COMMANDS, build_parser

    paths = []
    for name in LAZY_COMMANDS:
        actions = build_parser([name])._actions
        sub = next(a for a in actions if isinstance(a, argparse._SubParsersAction))
        paths += _subcommand_paths(sub.choices[name], (name,))
    assert ("llm", "grpo") in paths and ("bank", "sweep") in paths
    for path in [(), *paths]:
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        assert exit_.value.code == 0, path
        assert "usage: analora" in capsys.readouterr().out, path
