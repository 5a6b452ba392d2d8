"""The three studies end to end at smoke-test size (the packaged MiniLM and
../shared/data): one chip with five task adapters against each task alone,
the 8- to 6-bit re-adaptation with zero analog writes, and adapters
refreshed by chip age."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analora.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "glue").is_dir(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def multitask(tmp_path_factory, minilm_dir):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("multitask")
    argv = ["study", "multitask", "--data-dir", str(DATA), "--out", str(out), "--fast"]
    assert main(argv) == 0
    return out


def test_multitask(multitask, capsys) -> None:  # type: ignore[no-untyped-def]
    study = json.loads((multitask / "multitask.json").read_text())
    tasks = ["cola", "sst2", "mrpc", "rte", "stsb"]
    assert list(study["summary"]["tasks"]) == tasks
    for task in tasks:
        bank = json.loads((multitask / "sweeps" / "bank" / task / "results.json").read_text())
        alone = json.loads((multitask / "sweeps" / "alone" / task / "results.json").read_text())
        assert bank["chip_ids"] == alone["chip_ids"] and len(bank["chip_ids"]) == 2
        assert bank["label"] == "ahwa-lora, bank of 5 (mixed batches)"
    p = study["parameters"]
    one, sep = p["one_chip_with_adapters"], p["separate_models"]
    assert sep["analog_params"] == 5 * one["analog_params"] == 5 * 10_764_288
    assert sep["tiles"] == 5 * one["tiles"] == 5 * 61
    assert p["per_task"]["stsb"]["head"] == 385 and p["per_task"]["sst2"]["head"] == 770
    assert one["programmed_models"] == 1 and sep["programmed_models"] == 5
    assert "average" in (multitask / "multitask.md").read_text()
    # A rerun reuses every step.
    argv = ["study", "multitask", "--data-dir", str(DATA), "--out", str(multitask), "--fast"]
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("done already") == 5


def test_readapt(multitask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "readapt"
    argv = [
        "study",
        "readapt",
        "--adapter",
        str(multitask / "train" / "sst2"),
        "--on-chip-age",
        "1y",
    ]
    assert main([*argv, "--data-dir", str(DATA), "--out", str(out), "--fast"]) == 0
    summary = json.loads((out / "readapt.json").read_text())
    # the fourth series: each chip's own adapter, trained on that chip at 1 year
    # under the 6-bit converters, from the retrained adapter; still no write
    assert summary["on_chip_age_s"] == 365 * 86400.0
    for seed, chip in summary["chips"].items():
        assert chip["state_fingerprint_end_on_chip"] == chip["state_fingerprint_programmed"]
        record = json.loads((out / "on-chip" / f"chip{seed}" / "deployment.json").read_text())
        assert record["method"] == "chip-lora" and record["chip"]["seed"] == int(seed)
        assert record["chip"]["trained_at_age_s"] == 365 * 86400.0
        assert record["hardware"]["converters"]["adc_bits"] == 6
        assert "retrained" in Path(record["train"]["init_adapter"]["path"]).parts
    assert all({"retrained_on_chip", "recovery_on_chip"} <= set(r) for r in summary["rows"])
    assert "retrained on chip" in (out / "readapt.md").read_text()
    on_chip = json.loads((out / "sweeps" / "retrained-on-chip" / "results.json").read_text())
    assert on_chip["read_index"] == 1  # not the read the adapters trained on
    assert summary["hardware_after"] == "paper-pcm[dac_bits=6,adc_bits=6]"
    assert set(summary["analog_writes"].values()) == {0}
    for chip in summary["chips"].values():
        assert chip["state_fingerprint_programmed"] == chip["state_fingerprint_end"]
        assert chip["fingerprint_before"] != chip["fingerprint_after"]
    retrained = json.loads((out / "retrained" / "deployment.json").read_text())
    assert retrained["hardware"]["converters"]["adc_bits"] == 6
    assert retrained["train"]["init_adapter"]["hardware"] == "paper-pcm"
    assert all(
        set(r) >= {"before", "after_change", "retrained", "recovery"} for r in summary["rows"]
    )


def test_refresh(multitask, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "refresh"
    argv = ["study", "refresh", "--adapter", str(multitask / "train" / "sst2")]
    assert main([*argv, "--data-dir", str(DATA), "--out", str(out), "--fast"]) == 0
    summary = json.loads((out / "refresh.json").read_text())
    # 0 s: before the first band (1 h); 1 d: the 1 h band; 10 y: the 1 y band.
    assert summary["chosen"]["1000"] == {
        "0.0": "single",
        "86400.0": "band-1h",
        "315360000.0": "band-1y",
    }
    st = summary["storage"]
    assert st["extra_fp16_bytes_per_chip"] == 2 * st["adapter_fp16_bytes"]
    for band in ("1h", "1y"):
        meta = json.loads(
            (out / "bands" / f"chip1000-{band}" / "adapter" / "analora_adapter.json").read_text()
        )
        assert meta["method"] == "chip-lora" and meta["chip_seed"] == 1000


def test_reproduce_from_scratch_at_ci_size(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out, results = tmp_path / "reproduce", tmp_path / "results"
    argv = ["study", "reproduce", "--data-dir", str(DATA), "--out", str(out), "--fast"]
    md = tmp_path / "RESULTS.md"
    assert main([*argv, "--results-dir", str(results), "--results-md", str(md)]) == 0
    text = md.read_text()
    assert "## The paper's claims, tested" in text and "sst2: AHWA-LoRA holds accuracy" in text
    assert "![sst2](results/plots/sst2.png)" in text
    summary = json.loads((results / "summary.json").read_text())
    assert summary["format"] == "analora-summary/1"
    assert set(summary["tasks"]) == {"sst2", "stsb"}
    methods = {"digital", "digital-lora", "direct", "ahwa", "ahwa-lora", "chip-lora"}
    assert methods <= set(summary["tasks"]["sst2"])
    entry = summary["tasks"]["sst2"]["ahwa-lora"]
    assert entry["metric"] == "accuracy" and entry["chips"] == 2
    assert set(entry["ages"]) == {"0", "315360000"}
    assert summary["tasks"]["stsb"]["direct"]["metric"] == "spearman"  # the registry's primary
    assert summary["tasks"]["sst2"]["digital"]["ages"] == {}  # the reference alone
    assert "retrained on each chip at 10 y" in text  # the readapt stage's on-chip series
    # stsb is the fast study's warm-start task: its ahwa-lora starts from digital-lora.
    warm = json.loads((out / "train" / "stsb" / "ahwa-lora" / "run.json").read_text())
    assert warm["init_adapter"] == str(out / "train" / "stsb" / "digital-lora")
    cold = json.loads((out / "train" / "sst2" / "ahwa-lora" / "run.json").read_text())
    assert cold["init_adapter"] is None
    assert "On stsb, `ahwa-lora` starts from that task's `digital-lora`" in text
    # Every method was read on the same chips: differences are paired.
    chips = {
        m: json.loads((out / "sweeps" / "sst2" / m / "results.json").read_text())["chip_ids"]
        for m in ("direct", "ahwa-lora", "chip-lora")
    }
    assert list(chips["direct"]) == list(chips["ahwa-lora"]) == ["1000", "1001"]
    assert chips["chip-lora"] == chips["ahwa-lora"]  # chip-lora programmed the same chips
    # chip-lora trained on read 0 of its chip: the study reads it with fresh read noise.
    reads = {
        m: json.loads((out / "sweeps" / "sst2" / m / "results.json").read_text())["read_index"]
        for m in ("direct", "ahwa-lora", "chip-lora")
    }
    assert reads == {"direct": 0, "ahwa-lora": 0, "chip-lora": 1}
    revisions = {
        json.loads(p.read_text()).get("git_revision") for p in out.rglob("results.json")
    } - {None}
    if revisions:  # a checkout records its revision; RESULTS.md says how many ran
        assert f"`results.json`; {len(revisions)} revision" in text
    tables = (results / "tables.md").read_text()
    parts = (
        "ahwa-lora - direct", "bank / alone", "won back", "Rank ablation", "r=2", "floors",
        "Training memory per method",
    )  # fmt: skip
    for part in parts:
        assert part in tables, part
    assert (results / "plots" / "sst2.png").is_file()
    # The memory stage measured every training method, each in its own process.
    memory = json.loads((out / "memory.json").read_text())["methods"]
    assert set(memory) == methods - {"direct"} | {"ahwa-lora, no dropout"}
    assert memory["ahwa-lora, no dropout"]["lora_dropout"] == 0.0
    assert memory["ahwa-lora"]["lora_dropout"] == 0.1 and memory["ahwa"]["lora_dropout"] is None
    assert all(m["steps"] == 1 and m["peak_MiB"] >= m["loaded_MiB"] > 0 for m in memory.values())
    assert memory["ahwa"]["trainable"] > 10 * memory["ahwa-lora"]["trainable"]
    assert "AHWA-LoRA trains with about 13 % less memory than full AHWA | peak " in text
    # A rerun trains nothing again (a training would add its time to timings.json).
    timings = (out / "timings.json").read_text()
    capsys.readouterr()
    assert main([*argv, "--results-dir", str(results)]) == 0
    assert "resuming" not in capsys.readouterr().out
    assert (out / "timings.json").read_text() == timings
    # With the study folder gone, the report rebuilds the same files from the
    # inputs it archived beside them, and RESULTS.md from the results alone.
    archive = results / "inputs"
    kept = json.loads((archive / "archive.json").read_text())
    assert kept["format"] == "analora-study-inputs/1"
    assert "sweeps/sst2/direct/results.json" in kept["files"]
    assert not list(archive.rglob("*.safetensors"))  # records, not checkpoints
    names = ("tables.md", "summary.json", "analyses.json", "intro.md")
    before = {n: (results / n).read_text() for n in names}
    out.rename(tmp_path / "gone")
    rebuild = ["study", "reproduce", "--out", str(archive), "--stage", "report"]
    assert main([*rebuild, "--results-dir", str(results)]) == 0
    assert {n: (results / n).read_text() for n in names} == before
    assert f"analora study reproduce --out {archive} --stage report" in before["intro.md"]
    assert "--chips" not in before["intro.md"].split("--out " + str(archive))[1].split("\n")[0]
    assert json.loads((archive / "archive.json").read_text()) == kept  # never rewritten
    md.unlink()
    remade = ["study", "results-md", "--results-dir", str(results), "--results-md", str(md)]
    assert main(remade) == 0
    rebuilt = md.read_text()
    assert rebuilt.startswith(before["intro.md"]) and "## The paper's claims, tested" in rebuilt
    capsys.readouterr()
    assert main([*rebuild, "--stage", "train"]) == 2  # an archive is never trained into
    err = capsys.readouterr().err.strip()
    assert "only --stage report runs on it" in err and "\n" not in err, err


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--methods", "lora"], "--methods 'lora' is not studied"),
        (["--device", "gpu0"], "--device 'gpu0' is not a device"),
        (["--warm-start", "cola2"], "--warm-start 'cola2' is not a task"),
        (["--warm-start-epochs", "0"], "--warm-start-epochs 0 trains nothing"),
        (["--rank-tasks", "sts"], "--rank-tasks 'sts' is not a task"),
        (["--memory-task", "rt"], "--memory-task 'rt' is not a task"),
    ],
)
def test_reproduce_refuses_bad_methods_and_devices(tmp_path, capsys, flags, fragment) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "reproduce"
    argv = ["study", "reproduce", "--data-dir", str(DATA), "--out", str(out), "--fast", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and fragment in err and "\n" not in err, err
    assert not out.exists()  # refused before anything was written


def test_a_warm_start_from_a_run_without_adapter_metadata_names_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from analora.errors import AnaloraError
    from analora.studies.reproduce import FAST, Study, _train_ahwa_lora

    study = Study(tmp_path, replace(FAST, warm_start_tasks=("rte",)), str(DATA))
    old = study.run_dir("rte", "digital-lora")
    (old / "adapter").mkdir(parents=True)
    (old / "deployment.json").write_text("{}")  # finished, but before adapters had metadata
    (old / "adapter" / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(AnaloraError, match=r"predates adapter metadata .* delete it"):
        _train_ahwa_lora(study, "rte")
    assert not study.run_dir("rte", "ahwa-lora").exists()


def test_a_chip_lora_sweep_on_its_training_read_is_refused_with_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import AnaloraError
    from analora.studies.reproduce import FAST, Study, _sweep_chip_lora

    study = Study(tmp_path, FAST, str(DATA))
    old = study.sweep_dir("sst2", "chip-lora", study.seeds[0])
    old.mkdir(parents=True)
    (old / "sweep.json").write_text(json.dumps({"sweep": {"read_index": 0}}))
    with pytest.raises(AnaloraError, match=r"read index 0, the read its adapter trained on.*move"):
        _sweep_chip_lora(study, "sst2")


def test_the_recorded_command_rebuilds_the_same_sizes() -> None:
    import shlex
    from dataclasses import replace

    from analora.cli import build_parser
    from analora.commands.study import reproduce_sizes
    from analora.studies.reproduce import ReproduceSizes, _command

    sizes = replace(
        ReproduceSizes(), tasks=("stsb", "mrpc"), methods=("ahwa-lora",), chips=3,
        times=("0", "10y"), max_train_examples=500, chip_lora_examples=200,
        warm_start_tasks=("stsb",), warm_start_epochs=1, rank_tasks=("stsb",),
        memory_task="mrpc",
    )  # fmt: skip
    argv = shlex.split(_command(sizes, ("train", "rank")))[1:]
    args = build_parser(argv).parse_args(argv)
    assert args.stage == ["train", "rank"]
    assert reproduce_sizes(args) == sizes


def test_the_memory_claim_compares_the_peaks_of_ahwa_and_ahwa_lora() -> None:
    from analora.studies.analysis import _memory_claim

    def run(peak: float) -> dict:
        return {
            "peak_MiB": peak, "loaded_MiB": 500.0, "training_MiB": peak - 500.0,
            "measure": "peak RSS (VmHWM)", "device": "cpu", "task": "rte",
            "batch_size": 32, "max_length": 128,
        }  # fmt: skip

    row = _memory_claim({"ahwa": run(2000.0), "ahwa-lora": run(1700.0)})
    assert row["verdict"] == "reproduced"
    assert "15.0 % less" in row["here"] and "20.0 % less" in row["here"], row["here"]
    assert _memory_claim({"ahwa": run(2000.0), "ahwa-lora": run(1950.0)})["verdict"] == (
        "not reproduced"
    )  # 2.5 % is no saving worth the name
    more = _memory_claim(
        {"ahwa": run(2000.0), "ahwa-lora": run(2100.0), "ahwa-lora, no dropout": run(1800.0)}
    )
    assert more["verdict"] == "not reproduced"
    assert (
        "5.0 % more" in more["here"]
        and "without LoRA dropout 1800 MiB, 10.0 % less" in more["here"]
    )
    assert _memory_claim({"ahwa-lora": run(1.0)})["verdict"].startswith("not testable")


def test_training_memory_refuses_a_method_that_trains_nothing() -> None:
    from analora.errors import AnaloraError
    from analora.workflows import RunSpec
    from analora.workflows.memory import measurement_spec, training_memory

    with pytest.raises(AnaloraError, match="trains nothing"):
        training_memory(RunSpec(method="direct", model="minilm", task="rte"))
    cut = measurement_spec(RunSpec(method="ahwa-lora", model="minilm", task="rte"), steps=3)
    assert (cut.epochs, cut.max_train_examples, cut.max_eval_examples) == (1, 96, 32)
    with pytest.raises(AnaloraError, match="at least 1"):
        measurement_spec(RunSpec(method="ahwa-lora", model="minilm", task="rte"), steps=0)


def test_floors_section_reads_each_recipe_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.studies.analysis import floors_section

    for task, evals, final in (("cola", [10.0, 26.0], 26.0), ("rte", [50.0, 55.0], 55.0)):
        run = tmp_path / "train" / task / "digital-lora"
        run.mkdir(parents=True)
        metric = "matthews_correlation" if task == "cola" else "accuracy"
        (run / "train_log.json").write_text(json.dumps({"evals": [{metric: v} for v in evals]}))
        (run / "deployment.json").write_text(json.dumps({"eval": {"metrics": {metric: final}}}))
        settings = {"lr": 1e-3, "epochs": 2, "max_length": 64, "max_train_examples": None}
        (run / "run.json").write_text(json.dumps(settings))
    text, rows = floors_section(tmp_path)
    assert rows["cola"]["met"] is True and rows["rte"]["met"] is False  # floors 25 and 58
    assert "| cola | lr 0.001, 2 epochs, length 64, all examples | matthews_correlation |" in text


def test_paired_differences_line_up_when_methods_were_read_at_different_ages() -> None:
    from analora.studies.analysis import pairs_table

    def swept(scores: dict[float, float]) -> dict:  # type: ignore[type-arg]
        cells = [
            {"chip_seed": seed, "t_s": t, "metrics": {"f1": v + seed - 1000}}
            for seed in (1000, 1001)
            for t, v in scores.items()
        ]
        return {"primary_metric": "f1", "cells": cells, "times_s": list(scores)}

    ten_years = 315360000.0
    methods = {  # ahwa read at 0 s and 10 years only, the others at four ages
        "ahwa": swept({0.0: 60.0, ten_years: 55.0}),
        "ahwa-lora": swept({0.0: 57.0, 86400.0: 56.0, 31536000.0: 55.0, ten_years: 54.0}),
        "direct": swept({0.0: 63.0, 86400.0: 59.0, 31536000.0: 49.0, ten_years: 43.0}),
    }
    text, found = pairs_table("t", methods)
    assert "| difference | 0 s | 1 d | 1 y | 10 y |" in text
    assert "| ahwa-lora - ahwa | -3.00 ± 0.00 |  |  | -1.00 ± 0.00 |" in text
    four = "| -6.00 ± 0.00 | -3.00 ± 0.00 | +6.00 ± 0.00 | +11.00 ± 0.00 |"
    assert "| ahwa-lora - direct " + four in text
    assert [r["t_s"] for r in found["ahwa-lora - ahwa"]] == [0.0, ten_years]


def test_a_finished_run_is_reused_only_with_its_settings(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from analora.errors import AnaloraError
    from analora.studies.common import train_step
    from analora.workflows import RunSpec

    if not (DATA / "glue" / "SST-2").is_dir():
        pytest.skip(f"SST-2 not found under {DATA}")
    spec = RunSpec(
        method="digital-lora", model=str(tiny_dir), task="sst2", epochs=1,
        max_train_examples=8, max_eval_examples=8, max_length=16,
    )  # fmt: skip
    out = tmp_path / "run"
    assert train_step("sst2 digital-lora", spec, out, str(DATA)) is not None
    assert train_step("sst2 digital-lora", spec, out, str(DATA)) is None  # reused
    with pytest.raises(AnaloraError, match=r"other settings \(lr, max_train_examples\)"):
        train_step("sst2 digital-lora", replace(spec, lr=0.5, max_train_examples=9), out, str(DATA))


def test_results_md_rebuilds_from_a_results_folder_and_names_kept_studies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import AnaloraError
    from analora.studies.analysis import rebuild_results_md

    results = tmp_path / "docs" / "results"
    (results / "squad").mkdir(parents=True)
    (results / "summary.json").write_text(json.dumps({"format": "analora-summary/1", "tasks": {}}))
    (results / "analyses.json").write_text("{}")
    (results / "tables.md").write_text("# Reproduction study: tables\n\nrow\n")
    (results / "squad" / "tables.md").write_text("# kept\n")
    (results / "squad" / "README.md").write_text("intro line\n\n# SQuAD, five chips\n")
    md = tmp_path / "RESULTS.md"
    with pytest.raises(AnaloraError, match=r"has no intro\.md"):
        rebuild_results_md(results, md)
    assert not md.exists()
    (results / "intro.md").write_text("# Results here\n\nwhat ran\n")
    rebuild_results_md(results, md)
    text = md.read_text()
    assert text.startswith("# Results here\n\nwhat ran\n\n## The paper's claims, tested")
    assert "* [SQuAD, five chips (`squad/`)](docs/results/squad/README.md)" in text
    assert "## Tables\n\nrow" in text


def test_results_md_quotes_the_tasks_only_a_kept_study_ran(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analora.errors import AnaloraError
    from analora.studies.analysis import rebuild_results_md

    results = tmp_path / "docs" / "results"
    entry = {"metric": "f1", "chips": 5, "digital": 50.0, "ages": {}}
    main = {"format": "analora-summary/1", "tasks": {"sst2": {"direct": entry}}}
    (results / "squad").mkdir(parents=True)
    (results / "summary.json").write_text(json.dumps(main))
    (results / "analyses.json").write_text("{}")
    (results / "tables.md").write_text("# Reproduction study: tables\n")
    (results / "intro.md").write_text("# Results here\n")
    row = {"t_s": 315360000.0, "mean": 15.93, "half_width": 3.01, "n": 5}
    pairs = {"ahwa-lora - direct": [row]}
    kept = {"format": "analora-summary/1", "tasks": {"squad": {"direct": entry}, "sst2": {}}}
    (results / "squad" / "summary.json").write_text(json.dumps(kept))
    (results / "squad" / "analyses.json").write_text(json.dumps({"pairs/squad": pairs}))
    (results / "squad" / "tables.md").write_text("# kept\n")
    md = tmp_path / "RESULTS.md"
    rebuild_results_md(results, md)
    claim = (
        "| squad: AHWA-LoRA holds accuracy better than direct deployment at 10 years "
        "([squad/](docs/results/squad/README.md)) | +15.93 (95 % CI ± 3.01, 5 chips) | reproduced |"
    )
    assert claim in md.read_text()
    merged = json.loads((results / "summary.json").read_text())
    assert merged["tasks"] == {"sst2": {"direct": entry}, "squad": {"direct": entry}}  # main's sst2
    assert merged["sources"] == {"squad": "squad/summary.json"}
    rebuild_results_md(results, md)  # a second rebuild changes nothing
    assert json.loads((results / "summary.json").read_text()) == merged
    (results / "squad").rename(results / "squad-4k")  # no longer in the first kept study...
    rebuild_results_md(results, md)
    assert json.loads((results / "summary.json").read_text())["sources"] == {
        "squad": "squad-4k/summary.json"
    }  # ...its borrowed task is taken afresh
    (results / "squad-2k").mkdir()
    for name in ("summary.json", "analyses.json", "tables.md"):
        (results / "squad-2k" / name).write_bytes((results / "squad-4k" / name).read_bytes())
    with pytest.raises(AnaloraError, match=r"squad is in two kept studies, squad-2k/ and squad-4k"):
        rebuild_results_md(results, md)
