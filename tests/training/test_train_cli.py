"""``analora train``: a short run, the output-directory contract, resume."""

from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def argv(tmp_path, minilm_dir):  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "RTE").is_dir():
        pytest.skip(f"RTE not found under {DATA}")
    return [
        "train",
        "--method",
        "ahwa-lora",
        "--model",
        "minilm",
        "--task",
        "rte",
        "--data-dir",
        str(DATA),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-train-examples",
        "16",
        "--max-eval-examples",
        "16",
        "--max-length",
        "32",
        "--lr",
        "1e-3",
    ]


def test_train_refuses_a_second_run_and_resumes(argv, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ahwa-lora on rte: 2 steps" in out and "accuracy" in out
    assert "head + 0 other" in out  # only the adapter and the head train
    run = tmp_path / "run"
    assert (run / "run.json").is_file() and (run / "adapter" / "analora_adapter.json").is_file()
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume", "--lr", "2e-3"]) == 2
    assert "lr" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0  # already finished: resumes to the end at once


def test_train_question_answering(tiny_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    if not (DATA / "squad").is_dir():
        pytest.skip(f"SQuAD not found under {DATA}")
    from analora.adapters import read_adapter_meta

    argv = _tiny_argv("ahwa-lora", str(tiny_dir), tmp_path / "qa", "--doc-stride", "32")
    argv = [{"sst2": "squad-devsplit", "16": "24"}.get(a, a) for a in argv]
    argv[argv.index("--max-length") + 1] = "96"
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ahwa-lora on squad-devsplit" in out and "exact_match" in out and "f1" in out
    meta = read_adapter_meta(tmp_path / "qa" / "adapter")
    assert set(meta["metrics"]) == {"exact_match", "f1"}


def _tiny_argv(method: str, model: str, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--method",
        method,
        "--model",
        model,
        "--task",
        "sst2",
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-train-examples",
        "16",
        "--max-eval-examples",
        "16",
        "--max-length",
        "16",
        *extra,
    ]


def test_digital_direct_ahwa_chain(tiny_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    from analora.analog import load_analog_model
    from analora.training.deployment import read_deployment

    assert main(_tiny_argv("digital", str(tiny_dir), tmp_path / "digital")) == 0
    out = capsys.readouterr().out
    assert "digital on sst2: 2 steps" in out and "parameters trained" in out
    assert (tmp_path / "digital" / "model" / "config.json").is_file()
    # direct and ahwa take the digital run directory as --model.
    assert main(_tiny_argv("direct", str(tmp_path / "digital"), tmp_path / "direct")) == 0
    captured = capsys.readouterr()
    assert "no training" in captured.out and "note:" not in captured.err
    assert read_deployment(tmp_path / "direct")["method"] == "direct"
    assert main(_tiny_argv("ahwa", str(tmp_path / "digital"), tmp_path / "ahwa")) == 0
    assert "ahwa on sst2: 2 steps" in capsys.readouterr().out
    model = load_analog_model(tmp_path / "ahwa" / "model")
    assert sum(1 for _ in model.modules()) > 0
    # An untuned model for direct gets a note, not a refusal.
    assert main(_tiny_argv("direct", str(tiny_dir), tmp_path / "direct2")) == 0
    assert "note: --method direct expects a fine-tuned model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--device", "cuda:0"), "no CUDA device"),
        (("--device", "tpu?"), "is not a device"),
        (("--chip", "/nonexistent"), "--chip is for ahwa-lora and chip-lora"),
        (("--lr", "-1"), "--lr"),
    ],
)
def test_train_bad_options(tiny_dir, tmp_path, capsys, extra, message) -> None:  # type: ignore[no-untyped-def]
    import torch

    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    run = tmp_path / "run"
    assert main(_tiny_argv("digital", str(tiny_dir), run, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not run.exists()  # nothing written


def test_same_seed_same_adapter_whatever_ran_before(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    from transformers import AutoTokenizer, BertModel

    # A base model without a task head (as MiniLM): the head is initialised anew.
    base = tmp_path / "base"
    BertModel.from_pretrained(str(tiny_dir)).save_pretrained(str(base))
    AutoTokenizer.from_pretrained(str(tiny_dir)).save_pretrained(str(base))
    assert main(_tiny_argv("ahwa-lora", str(base), tmp_path / "a")) == 0
    torch.rand(1000)  # other work in the same process moves the global RNG
    assert main(_tiny_argv("ahwa-lora", str(base), tmp_path / "b")) == 0
    for name in ("adapter_model.safetensors", "analora_adapter.json"):
        a = (tmp_path / "a" / "adapter" / name).read_bytes()
        assert a == (tmp_path / "b" / "adapter" / name).read_bytes(), name
