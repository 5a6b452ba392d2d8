"""Bad input through the command line, table-driven.

Every case must give exit status 2, exactly one line on stderr that names a
fix, no traceback, and leave nothing half-written (the case's output path
does not exist afterwards, or is unchanged).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@dataclass(frozen=True)
class World:
    """Good artefacts the bad cases start from (built once)."""

    tiny: Path
    other_tiny: Path
    chip: Path
    chip2: Path
    lora: Path
    chip_lora: Path


@pytest.fixture(scope="module")
def world(tiny_dir, tmp_path_factory) -> World:  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    import torch
    from transformers import BertForSequenceClassification

    root = tmp_path_factory.mktemp("world")
    other = root / "other-tiny"
    model = BertForSequenceClassification.from_pretrained(str(tiny_dir))
    with torch.no_grad():
        model.bert.encoder.layer[0].intermediate.dense.weight.mul_(1.5)
    model.save_pretrained(str(other))
    for f in tiny_dir.iterdir():
        if f.name.startswith(("tokenizer", "vocab", "special")):
            shutil.copy(f, other / f.name)
    chip = root / "chip"
    assert (
        main(
            [
                "chip",
                "program",
                "--model",
                str(tiny_dir),
                "--model-class",
                "sequence-classification",
                "--exclude",
                "classifier",
                "--out",
                str(chip),
                "--quiet",
            ]
        )
        == 0
    )
    chip2 = root / "chip2"
    argv = ["chip", "program", "--model", str(tiny_dir), "--model-class", "sequence-classification"]
    assert (
        main([*argv, "--exclude", "classifier", "--seed", "1", "--out", str(chip2), "--quiet"]) == 0
    )
    common = ["--task", "sst2", "--data-dir", str(DATA), "--max-train-examples", "8"]
    common += ["--max-eval-examples", "8", "--max-length", "16", "--epochs", "1"]
    lora = root / "lora"
    assert (
        main(
            [
                "train",
                "--method",
                "ahwa-lora",
                "--model",
                str(tiny_dir),
                *common,
                "--out",
                str(lora),
            ]
        )
        == 0
    )
    chip_lora = root / "chip-lora"
    argv = ["train", "--method", "chip-lora", "--model", str(tiny_dir), "--chip", str(chip)]
    assert main([*argv, *common, "--out", str(chip_lora)]) == 0
    return World(tiny_dir, other, chip, chip2, lora, chip_lora)


Case = Callable[[World, Path], list[str]]


def _sweep(deployment: Path, out: Path, *extra: str) -> list[str]:
    return [
        "sweep",
        "--deployment",
        str(deployment),
        "--chips",
        "1",
        "--times",
        "0",
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
        *extra,
    ]


def _train(world: World, out: Path, *extra: str, method: str = "digital") -> list[str]:
    return [
        "train",
        "--method",
        method,
        "--model",
        str(world.tiny),
        "--task",
        "sst2",
        "--data-dir",
        str(DATA),
        "--max-train-examples",
        "8",
        "--max-eval-examples",
        "8",
        "--max-length",
        "16",
        "--out",
        str(out),
        *extra,
    ]


def _damaged_bank(world: World, tmp: Path, part: str) -> Path:
    """A bank holding the ahwa-lora run, with ``part`` of its entry deleted."""
    bank = tmp / "bank"
    assert main(["bank", "add", str(bank), str(world.lora), "--name", "a"]) == 0
    target = bank / "adapters" / "a" / part
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return bank


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip_byte(path: Path, offset: int = -10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _glue(tmp: Path, header: str, rows: list[str], raw: bytes | None = None) -> Path:
    folder = tmp / "data" / "glue" / "SST-2"
    folder.mkdir(parents=True)
    for split in ("train", "dev"):
        path = folder / f"{split}.tsv"
        if raw is not None:
            path.write_bytes(raw)
        else:
            path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return tmp / "data"


def _yaml(tmp: Path, text: str) -> str:
    path = tmp / "hw.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _squad_missing_field(tmp: Path) -> Path:
    folder = tmp / "data" / "squad" / "v1.1"
    folder.mkdir(parents=True)
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"qas": []}]}]}
    (folder / "dev-v1.1.json").write_text(json.dumps(doc), encoding="utf-8")
    return tmp / "data"


def _deployment_with(world: World, tmp: Path, src: Path, **changes: object) -> Path:
    run = _copy(src, tmp / "run")
    record = json.loads((run / "deployment.json").read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            record[section][field] = value
        else:
            record[section] = value
    (run / "deployment.json").write_text(json.dumps(record))
    return run


# (id, argv builder, expected part of the message, path that must not appear)
CASES: list[tuple[str, Case, str, str | None]] = [
    # -- hardware configs
    ("unknown preset", lambda w, t: ["hardware", "show", "paper-pcmm"], "did you mean", None),
    (
        "value out of range",
        lambda w, t: ["hardware", "show", "paper-pcm", "--set", "adc_bits=0"],
        "adc_bits",
        None,
    ),
    (
        "wrongly typed value",
        lambda w, t: ["hardware", "show", "paper-pcm", "--set", "adc_bits=eight"],
        "adc_bits",
        None,
    ),
    (
        "unknown key",
        lambda w, t: ["hardware", "show", "paper-pcm", "--set", "adc_bitz=8"],
        "adc_bits",
        None,
    ),
    (
        "yaml syntax error",
        lambda w, t: ["hardware", "show", _yaml(t, "tile: [1, 2\n")],
        "YAML",
        None,
    ),
    (
        "unknown key in a yaml file",
        lambda w, t: ["hardware", "show", _yaml(t, "base: paper-pcm\ntile:\n  max_inputz: 3\n")],
        "max_inputz",
        None,
    ),
    # -- models
    (
        "nonexistent model path",
        lambda w, t: ["chip", "program", "--model", str(t / "nope" / "x"), "--out", str(t / "o")],
        "does not exist",
        "o",
    ),
    (
        "model directory without config",
        lambda w, t: ["chip", "program", "--model", str(t), "--out", str(t / "o")],
        "config.json",
        "o",
    ),
    (
        "no linear layers to map",
        lambda w, t: [
            "chip",
            "program",
            "--model",
            str(w.tiny),
            "--include",
            "nothing-matches*",
            "--out",
            str(t / "o"),
        ],
        "no linear layers to map",
        "o",
    ),
    (
        "unknown model class",
        lambda w, t: [
            "chip",
            "program",
            "--model",
            str(w.tiny),
            "--model-class",
            "seq",
            "--out",
            str(t / "o"),
        ],
        "--model-class",
        "o",
    ),
    # -- data
    (
        "missing data folder",
        lambda w, t: ["tasks", "show", "sst2", "--data-dir", str(t / "missing")],
        "missing",
        None,
    ),
    (
        "wrong columns",
        lambda w, t: ["tasks", "show", "sst2", "--data-dir", str(_glue(t, "text\tgold", ["a\t1"]))],
        "sentence",
        None,
    ),
    (
        "empty split",
        lambda w, t: [*_train(w, t / "o"), "--data-dir", str(_glue(t, "sentence\tlabel", []))],
        "empty",
        "o",
    ),
    (
        "non-UTF-8 file",
        lambda w, t: [
            "tasks",
            "show",
            "sst2",
            "--data-dir",
            str(_glue(t, "", [], raw=b"sentence\tlabel\n\xff\xfe bad\t1\n")),
        ],
        "UTF-8",
        None,
    ),
    (
        "squad json missing a field",
        lambda w, t: ["tasks", "show", "squad", "--data-dir", str(_squad_missing_field(t))],
        "context",
        None,
    ),
    ("unknown task", lambda w, t: _train(w, t / "o", "--task", "sst3"), "did you mean", "o"),
    # -- adapters
    (
        "adapter for another base model",
        lambda w, t: _sweep(_deployment_with(w, t, w.lora, model__path=str(w.other_tiny)), t / "o"),
        "another base model",
        "o",
    ),
    (
        "chip-bound adapter on another chip",
        lambda w, t: _sweep(_deployment_with(w, t, w.chip_lora, chip__path=str(w.chip2)), t / "o"),
        "bound to chip",
        "o",
    ),
    (
        "corrupted adapter weights",
        lambda w, t: _sweep(
            _corrupt(_copy(w.lora, t / "run"), "adapter/adapter_model.safetensors"), t / "o"
        ),
        "checksum",
        "o",
    ),
    (
        "adapter without its metadata",
        lambda w, t: _sweep(
            _remove(_copy(w.lora, t / "run"), "adapter/analora_adapter.json"), t / "o"
        ),
        "analora_adapter.json",
        "o",
    ),
    (
        "bank entry whose adapter was deleted (list)",
        lambda w, t: ["bank", "list", str(_damaged_bank(w, t, "adapter"))],
        "bank remove",
        None,
    ),
    (
        "bank entry whose adapter was deleted (sweep)",
        lambda w, t: [
            "bank",
            "sweep",
            str(_damaged_bank(w, t, "adapter")),
            *_sweep(w.lora, t / "o")[3:],
        ],
        "is damaged",
        "o",
    ),
    (
        "bank entry without its deployment.json",
        lambda w, t: ["bank", "list", str(_damaged_bank(w, t, "deployment.json"))],
        "is damaged",
        None,
    ),
    # -- chips
    (
        "truncated chip",
        lambda w, t: ["chip", "info", str(_truncate(_copy(w.chip, t / "c"), "chip.safetensors"))],
        "checksum",
        None,
    ),
    (
        "tampered chip",
        lambda w, t: ["chip", "info", str(_corrupt(_copy(w.chip, t / "c"), "chip.safetensors"))],
        "checksum",
        None,
    ),
    (
        "chip from another hardware config",
        lambda w, t: ["chip", "read", str(w.chip), "--model", str(w.tiny), "--hardware", "ideal"],
        "programmed for hardware",
        None,
    ),
    (
        "chip on another model",
        lambda w, t: [
            "chip",
            "read",
            str(w.chip),
            "--model",
            str(w.other_tiny),
            "--model-class",
            "sequence-classification",
        ],
        "another model",
        None,
    ),
    (
        "chip for training another model",
        lambda w, t: [
            *_train(w, t / "o", method="ahwa-lora"),
            "--chip",
            str(w.chip),
            "--model",
            str(w.other_tiny),
        ],
        "another model",
        "o",
    ),
    (
        "warm start from a folder without an adapter",
        lambda w, t: [
            *_train(w, t / "o", method="ahwa-lora"),
            "--init-adapter",
            str(_touch(t / "empty" / "README.md").parent),
        ],
        "pass an adapter saved by analora",
        "o",
    ),
    # -- output directories
    (
        "output under a file",
        lambda w, t: _sweep(w.lora, _touch(t / "file") / "sub"),
        "--out",
        None,
    ),
    (
        "output holds another run",
        lambda w, t: _train(w, _copy(w.lora, t / "o")),
        "already holds a run",
        None,
    ),
    (
        "sweep output holds other files",
        lambda w, t: _sweep(w.lora, _touch(t / "o" / "x").parent),
        "not an empty directory",
        None,
    ),
    (
        "chip output holds a chip",
        lambda w, t: [
            "chip",
            "program",
            "--model",
            str(w.tiny),
            "--out",
            str(_copy(w.chip, t / "c")),
        ],
        "--overwrite",
        None,
    ),
    ("resume without a run", lambda w, t: _train(w, t / "o", "--resume"), "drop --resume", "o"),
    # -- grids and options
    ("zero chips", lambda w, t: [*_sweep(w.lora, t / "o"), "--chips", "0"], "--chips 0", "o"),
    ("negative time", lambda w, t: [*_sweep(w.lora, t / "o"), "--times", "-1"], "negative", "o"),
    (
        "unreadable time",
        lambda w, t: [*_sweep(w.lora, t / "o"), "--times", "later"],
        "not an age",
        "o",
    ),
    ("not a deployment", lambda w, t: _sweep(w.chip, t / "o"), "deployment.json", "o"),
    ("negative learning rate", lambda w, t: _train(w, t / "o", "--lr", "-1"), "--lr", "o"),
    ("no such device", lambda w, t: _train(w, t / "o", "--device", "cuda:7"), "--device", "o"),
    (
        "report on a non-result",
        lambda w, t: ["report", str(w.chip / "chip.json"), "--out", str(t / "o")],
        "results",
        "o",
    ),
]


def _corrupt(run: Path, rel: str) -> Path:
    _flip_byte(run / rel)
    return run


def _remove(run: Path, rel: str) -> Path:
    (run / rel).unlink()
    return run


def _truncate(d: Path, rel: str) -> Path:
    path = d / rel
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return d


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def _stsb_score(tmp: Path, score: str) -> Path:
    folder = tmp / "data" / "glue" / "STS-B"
    folder.mkdir(parents=True)
    header = (
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    )
    row = f"0\tmain\tf\t2012\t0\tnone\tnone\tA cat.\tA dog.\t{score}"
    (folder / "dev.tsv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    return tmp / "data"


def _squad_answer(tmp: Path, start: int) -> Path:
    folder = tmp / "data" / "squad" / "v1.1"
    folder.mkdir(parents=True)
    qa = {"id": "q1", "question": "Who?", "answers": [{"answer_start": start, "text": "Ann"}]}
    para = {"context": "Ann ran.", "qas": [qa]}
    doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [para]}]}
    (folder / "dev-v1.1.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return tmp / "data"


def _adapter_config(world: World, tmp: Path, edit: Callable[[dict], object]) -> Path:
    run = _copy(world.lora, tmp / "run")
    path = run / "adapter" / "adapter_config.json"
    config = json.loads(path.read_text())
    result = edit(config)
    path.write_text(result if isinstance(result, str) else json.dumps(config))
    return run


def _forged_chip(world: World, tmp: Path) -> Path:
    """A chip with one tensor cut short and its checksum recomputed."""
    from safetensors.torch import load_file, save_file

    from analora.files import sha256_file

    chip = _copy(world.chip, tmp / "c")
    flat = load_file(str(chip / "chip.safetensors"))
    key = sorted(k for k in flat if k.endswith("::g_prog_uS"))[0]
    flat[key] = flat[key][..., :-1].contiguous()
    save_file(flat, str(chip / "chip.safetensors"))
    meta = json.loads((chip / "chip.json").read_text())
    meta["tensors_sha256"] = sha256_file(chip / "chip.safetensors")
    (chip / "chip.json").write_text(json.dumps(meta))
    return chip


def _truncated_model(world: World, tmp: Path) -> Path:
    return _truncate(_copy(world.tiny, tmp / "m"), "model.safetensors")


CASES += [
    (
        "stsb score out of range",
        lambda w, t: ["tasks", "show", "stsb", "--data-dir", str(_stsb_score(t, "99999"))],
        "dev.tsv:2 has score 99999.0, outside STS-B's range 0-5",
        None,
    ),
    (
        "squad answer outside its context",
        lambda w, t: ["tasks", "show", "squad", "--data-dir", str(_squad_answer(t, 200))],
        "outside its context",
        None,
    ),
    (
        "squad answer not at its answer_start",
        lambda w, t: ["tasks", "show", "squad", "--data-dir", str(_squad_answer(t, 2))],
        "where the context reads",
        None,
    ),
    (
        "adapter config with a raised lora_alpha",
        lambda w, t: _sweep(
            _adapter_config(w, t, lambda c: c.update(lora_alpha=4 * c["lora_alpha"])), t / "o"
        ),
        "adapter_config.json is missing or does not match its checksum",
        "o",
    ),
    (
        "adapter config with fewer target modules",
        lambda w, t: _sweep(
            _adapter_config(w, t, lambda c: c.update(target_modules=c["target_modules"][:1])),
            t / "o",
        ),
        "adapter_config.json",
        "o",
    ),
    (
        "adapter config with another rank",
        lambda w, t: _sweep(_adapter_config(w, t, lambda c: c.update(r=c["r"] + 1)), t / "o"),
        "adapter_config.json",
        "o",
    ),
    (
        "adapter config not JSON",
        lambda w, t: _sweep(_adapter_config(w, t, lambda c: "{ not json"), t / "o"),
        "adapter_config.json",
        "o",
    ),
    (
        "forged chip shape (info)",
        lambda w, t: ["chip", "info", str(_forged_chip(w, t))],
        "g_prog_uS",
        None,
    ),
    (
        "forged chip shape (read)",
        lambda w, t: ["chip", "read", str(_forged_chip(w, t)), "--model", str(w.tiny)],
        "g_prog_uS",
        None,
    ),
    (
        "truncated model file",
        lambda w, t: [
            "chip",
            "program",
            "--model",
            str(_truncated_model(w, t)),
            "--out",
            str(t / "o"),
        ],
        "damaged or incomplete",
        "o",
    ),
    (
        "drift compensation off (a YAML 1.1 boolean)",
        lambda w, t: ["hardware", "show", "paper-pcm", "--set", "drift_compensation.method=off"],
        "method='off' is invalid",
        None,
    ),
    (
        "cost with an unknown model class",
        lambda w, t: ["cost", "--model", str(w.tiny), "--model-class", "qa"],
        "--model-class 'qa' is unknown",
        None,
    ),
]


def test_at_least_thirty_distinct_cases() -> None:
    assert len({case[0] for case in CASES}) >= 30


@pytest.mark.parametrize(("name", "build", "message", "absent"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, tmp_path, capsys, monkeypatch, name, build, message, absent) -> None:  # type: ignore[no-untyped-def]
    import analora.hub

    monkeypatch.setattr(analora.hub, "hub_reachable", lambda *a, **k: False)
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path / "token-cache"))
    argv = build(world, tmp_path)
    capsys.readouterr()
    assert main(argv) == 2, name
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert message in lines[0], lines[0]
    if absent is not None:
        assert not (tmp_path / absent).exists(), f"{absent} was written"
    assert not list(tmp_path.rglob("*.tmp*")), "a temporary file was left behind"
