"""``train_run``: checks before writing, fingerprints of what a run reads,
one writer per directory, and the registry, recipes and pooling behind it."""

import shutil
from pathlib import Path

import pytest

from analora.errors import AnaloraError
from analora.workflows import RunSpec, train_run

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "glue" / "SST-2").is_dir(), reason="needs SST-2")

SMALL = {"epochs": 1, "batch_size": 8, "max_train_examples": 16, "max_eval_examples": 8,
         "max_length": 16}  # fmt: skip


def _spec(model: Path, method: str = "digital-lora", **kw) -> RunSpec:  # type: ignore[no-untyped-def]
    return RunSpec(method=method, model=str(model), task="sst2", **{**SMALL, **kw})


def test_contradictory_flags_are_refused_before_anything_is_written(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    with pytest.raises(AnaloraError, match="--chip-seed programs a new chip"):
        RunSpec(method="ahwa-lora", model="m", task="sst2", chip="c", chip_seed=3)
    with pytest.raises(AnaloraError, match="--chip is for ahwa-lora and chip-lora"):
        RunSpec(method="digital", model="m", task="sst2", chip="c")
    with pytest.raises(AnaloraError, match="did you mean 'ahwa-lora'"):
        RunSpec(method="ahwa-lorra", model="m", task="sst2")
    with pytest.raises(AnaloraError, match="--head 'head' names no module"):
        train_run(_spec(tiny_dir, head="head"), out, data_dir=DATA)
    assert not out.exists() and not any(tmp_path.iterdir())  # nothing, not even a lock file
    run = train_run(_spec(tiny_dir), out, data_dir=DATA)  # the corrected command just runs
    assert run.steps == 2 and run.trainable["head"] > 0


def test_a_chip_for_other_hardware_is_refused(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.workflows import program_chip

    chip = tmp_path / "chip"
    program_chip(str(tiny_dir), chip, hardware="paper-pcm", model_class="sequence-classification",
                 exclude=["classifier"])  # fmt: skip
    spec = _spec(tiny_dir, "ahwa-lora", chip=str(chip), hardware="paper-pcm-6bit")
    with pytest.raises(AnaloraError, match="pass --hardware paper-pcm"):
        train_run(spec, tmp_path / "run", data_dir=DATA)
    assert not (tmp_path / "run").exists()


def test_resume_refuses_changed_data_and_names_it(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    shutil.copytree(DATA / "glue" / "SST-2", data / "glue" / "SST-2")
    out = tmp_path / "run"
    train_run(_spec(tiny_dir), out, data_dir=data)
    record = (out / "run.json").read_text()
    assert '"inputs"' in record and '"pooling": "cls"' in record  # a plain BERT: its pooler
    train = data / "glue" / "SST-2" / "train.tsv"
    lines = train.read_text().splitlines()
    train.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    with pytest.raises(AnaloraError, match=r"read other inputs than these \(data changed\)"):
        train_run(_spec(tiny_dir), out, data_dir=data, resume=True)


def test_a_second_writer_is_refused_at_once(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.files import OutputLockedError, output_lock

    out = tmp_path / "run"
    with (
        output_lock(out, "another analora train", beside=True),
        pytest.raises(OutputLockedError, match="another analora train"),
    ):
        train_run(_spec(tiny_dir), out, data_dir=DATA)
    assert not out.exists()


def test_recipes_fill_what_the_spec_leaves_out() -> None:
    spec = RunSpec(method="digital-lora", model="minilm", task="rte").resolved()
    assert (spec.lr, spec.epochs, spec.warmup_ratio, spec.max_length) == (5e-4, 5, 0.1, 128)
    spec = RunSpec(method="ahwa-lora", model="minilm", task="mrpc").resolved()
    assert (spec.lr, spec.epochs, spec.max_length) == (1e-3, 3, 128)
    spec = RunSpec(method="ahwa", model="m", task="sst-2", lr=3e-5).resolved()
    assert spec.task == "sst2" and spec.lr == 3e-5 and spec.max_train_examples == 20000
    assert RunSpec(method="direct", model="m", task="cola").resolved().lr == 0.0
    assert RunSpec(method="digital", model="m", task="squad-devsplit").resolved().lr == 3e-4


def test_the_registry_drives_what_methods_may_do() -> None:
    from analora.training.registry import get_method, method_names

    assert method_names(trains="adapter", analog=True) == ("ahwa-lora", "chip-lora")
    assert get_method("direct").deployment_kind == "model"
    assert get_method("digital-lora").deployment_kind == "digital"
    assert get_method("chip-lora").chip_bound and not get_method("ahwa-lora").chip_bound
