"""``analora cost``: printed tables, the JSON file, and refusals (one line, exit 2)."""

from __future__ import annotations

import json

import pytest

from analora.cli import main
from analora.cost.report import Table, format_cell

FAST = [  # 32 FMA fully used at 1 GHz, no setup: 32 MACs per ns
    "--cluster-frequency-hz",
    "1e9",
    "--utilisation",
    "1",
    "--setup-cycles-per-block",
    "0",
]


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cells(text: str) -> list[list[str]]:
    """The cells of every printed table row."""
    return [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]


def one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def test_layer_sweep_table_and_json(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cost.json"
    argv = ["cost", "--layer", "384", "384", "--tokens", "8", "128"]
    argv += ["--integration-time-ns", "128", *FAST, "--json", str(out)]
    code, text, _ = run(capsys, *argv)
    assert code == 0
    # 8 tokens: analog 1,024 ns, digital 49,152 / 32 = 1,536 ns, total 62,464 ns, +52.5 %
    assert ["128", "8", "1,024", "1,536", "1.5", "36.12", "yes", "62,464", "52.5", "<- best"] in (
        cells(text)
    )
    assert "Parameters and memory" not in text  # --layer alone: only its table
    data = json.loads(out.read_text())
    assert data["format"] == "analora-cost/1"
    first = data["values"]["latency_sweep"][0]
    assert (first["tokens"], first["total_ns"], first["fits"]) == (8, 62_464.0, True)
    # 128 tokens: blocks 128, 128, 64 end at 77,824 ns and need 407,552 bytes
    last = data["values"]["latency_sweep"][1]
    assert (last["total_ns"], last["memory_bytes"], last["fits"]) == (77_824.0, 407_552, False)
    table = data["tables"]["latency_sweep"]
    assert table["columns"][:2] == ["t_int (ns)", "N"] and len(table["rows"]) == 2
    assert table["rows"][0][-1] == "<- best"
    cluster = {p["name"]: p for p in data["parameters"]["cluster"]}
    assert cluster["utilisation"]["value"] == 1.0 and cluster["utilisation"]["default"] == 0.988
    assert "Tortorella" in cluster["fma_units"]["source"]


def test_shapes_accounting(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cost.json"
    argv = ["cost", "--shapes", "384x384,384x1536", "--digital-params", "1000", "--tasks", "2"]
    code, text, _ = run(capsys, *argv, "--json", str(out))
    assert code == 0
    # analog 147,456 + 589,824 = 737,280; tiles 1 + 3; LoRA 6,144 + 15,360 = 21,504;
    # head (384 + 1) * 2 = 770 (hidden = first IN); adapter 22,274 = 44,548 bytes
    assert ["analog parameters", "737,280"] in cells(text)
    assert ["adapter bytes per task (2 B/param)", "44,548"] in cells(text)
    acc = json.loads(out.read_text())["values"]["account"]
    assert (acc["analog_params"], acc["tiles"], acc["lora_params"]) == (737_280, 4, 21_504)
    assert (acc["head_params"], acc["adapter_bytes"]) == (770, 44_548)
    bank = json.loads(out.read_text())["values"]["bank"]
    # one chip: 737,280 + 1,000 + 2 * 22,274; two models: 2 * (737,280 + 1,000 + 770)
    assert bank["stored_params"] == {"one_chip": 782_828, "n_models": 1_478_100}
    for key in ("accounting", "bank", "switch", "latency"):
        assert key in json.loads(out.read_text())["tables"]


def test_hardware_override_changes_tiles(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "c.json"
    argv = ["cost", "--shapes", "384x384", "--set", "tile.max_outputs=256", "--json", str(out)]
    assert run(capsys, *argv)[0] == 0
    values = json.loads(out.read_text())["values"]
    assert values["account"]["tiles"] == 2  # 1 * ceil(384 / 256)
    assert values["switch"]["rows"] == 768  # 384 rows on each of 2 tiles


def test_tiny_model(capsys, tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tiny.json"
    code, text, _ = run(capsys, "cost", "--model", str(tiny_dir), "--json", str(out))
    assert code == 0
    for table in ("Parameters and memory", "One chip with 8 task adapters", "Task switch"):
        assert table in text
    acc = json.loads(out.read_text())["values"]["account"]
    # 1 layer: 4 * 32^2 + 2 * 32 * 64 = 8,192, pooler 1,024: 9,216 on 7 tiles
    assert (acc["analog_params"], acc["tiles"]) == (9_216, 7)
    # LoRA: 5 * 8 * 64 + 2 * 8 * 96 = 4,096; head (32 + 1) * 2 = 66
    assert (acc["lora_params"], acc["head_params"]) == (4_096, 66)
    assert ["analog parameters", "9,216"] in cells(text)
    assert ["LoRA parameters per task (rank 8)", "4,096"] in cells(text)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--layer", "384", "384", "--rank", "-1"], "rank=-1 is invalid: give an integer >= 1"),
        (["--shapes", "384x384", "--tasks", "0"], "tasks=0 is invalid"),
        (
            ["--shapes", "384x384", "--bandwidth-bytes-per-s", "0"],
            "bandwidth_bytes_per_s=0.0 is invalid: give a number > 0 (--bandwidth-bytes-per-s)",
        ),
        (["--layer", "384", "384", "--utilisation", "2"], "(--utilisation)"),
        (["--layer", "384", "384", "--tokens", "0"], "tokens=0 is invalid"),
        (["--layer", "0", "384"], "in_features=0 is invalid"),
        (["--shapes", "384"], "--shapes entry '384' is not IN x OUT"),
        (["--shapes", "384x384", "--head-params", "-5"], "head_params=-5 is invalid"),
        (["--shapes", "384x384", "--hidden", "0"], "hidden=0 is invalid"),
        ([], "nothing to cost: give --model"),
        (["--model", "minilm", "--digital-params", "5"], "--digital-params is for --shapes"),
        (["--shapes", "384x384", "--hardware", "paper-pcn"], "did you mean 'paper-pcm'"),
        (["--model", "/no/such/dir"], "does not exist"),
    ],
)
def test_refusals(capsys, tmp_path, argv, fragment) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cost.json"
    code, _, err = run(capsys, "cost", *argv, "--json", str(out))
    one_line_error(code, err, fragment)
    assert not out.exists()


def test_unwritable_json(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "cost", "--layer", "8", "8", "--json", str(blocker / "c.json"))
    one_line_error(code, err, "choose another --json path")


def test_model_and_shapes_exclude_each_other(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        main(["cost", "--model", "minilm", "--shapes", "384x384"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_table_text() -> None:
    assert [format_cell(v) for v in (None, True, 12_345, 12_154.1, 0.02646, 2.0)] == [
        "",
        "yes",
        "12,345",
        "12,154",
        "0.02646",
        "2",
    ]
    text = Table("t", "Title", ("a", "bb"), (("x", 1), ("yyy", None)), note="n").to_text()
    assert text.splitlines() == [
        "Title:",
        "",
        "| a   | bb |",
        "|-----|----|",
        "| x   |  1 |",
        "| yyy |    |",
        "",
        "n",
    ]


@pytest.mark.parametrize(
    ("model_class", "extra", "analog", "tiles", "head"),
    [
        # no pooler in a QA model: 8,192 on 6 tiles; qa_outputs (32 + 1) * 2 = 66
        ("question-answering", [], 8_192, 6, 66),
        # the pooler stays (analog); the classifier (32 + 1) * 3 = 99 is the head
        ("sequence-classification", ["--num-labels", "3"], 9_216, 7, 99),
    ],
)
def test_model_class_counts_the_models_own_head(
    capsys, tiny_dir, tmp_path, model_class, extra, analog, tiles, head
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cost.json"
    argv = ["cost", "--model", str(tiny_dir), "--model-class", model_class, *extra]
    code, _, _ = run(capsys, *argv, "--json", str(out))
    assert code == 0
    data = json.loads(out.read_text())
    acc = data["values"]["account"]
    assert (acc["analog_params"], acc["tiles"], acc["head_params"]) == (analog, tiles, head)
    assert data["inputs"]["model_class"] == model_class
    base = tmp_path / "base.json"
    assert run(capsys, "cost", "--model", str(tiny_dir), "--json", str(base))[0] == 0
    base_acc = json.loads(base.read_text())["values"]["account"]
    # the head is counted per task, not in the shared digital part
    assert acc["digital_params"] <= base_acc["digital_params"]


def test_model_class_refusals(capsys, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, "cost", "--model", str(tiny_dir), "--model-class", "qa")
    one_line_error(code, err, "--model-class 'qa' is unknown")
    code, _, err = run(capsys, "cost", "--shapes", "8x8", "--model-class", "question-answering")
    one_line_error(code, err, "--model-class is for --model")
