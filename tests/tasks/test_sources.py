"""Source resolution: --data-dir, ANALORA_DATA_DIR, the Hub (faked in memory), and errors."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from analora.errors import DataError
from analora.tasks.sources import load_task


def _hub_sst2() -> DatasetDict:
    # The nyu-mll/glue "sst2" schema: sentence, label (ClassLabel), idx (int32).
    features = Features(
        {
            "sentence": Value("string"),
            "label": ClassLabel(names=["negative", "positive"]),
            "idx": Value("int32"),
        }
    )
    rows = {"sentence": ["bad .", "good ."], "label": [0, 1], "idx": [0, 1]}
    test = {"sentence": ["?"], "label": [-1], "idx": [0]}
    return DatasetDict(
        {
            "train": Dataset.from_dict(rows, features=features),
            "validation": Dataset.from_dict(rows, features=features),
            "test": Dataset.from_dict(test, features=features),
        }
    )


def _hub_squad() -> DatasetDict:
    features = Features(
        {
            "id": Value("string"),
            "title": Value("string"),
            "context": Value("string"),
            "question": Value("string"),
            "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))},
        }
    )
    titles = [f"Article_{i:02d}" for i in range(48)]
    rows = {
        "id": [f"q{i}" for i in range(48)],
        "title": titles,
        "context": ["Ann ran."] * 48,
        "question": ["Who ran?"] * 48,
        "answers": [{"text": ["Ann"], "answer_start": [0]}] * 48,
    }
    return DatasetDict({"validation": Dataset.from_dict(rows, features=features)})


@pytest.fixture
def fake_hub(monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str | None]] = []

    def load_dataset(path: str, name: str | None = None, **kwargs: object) -> DatasetDict:
        calls.append((path, name))
        if (path, name) == ("nyu-mll/glue", "sst2"):
            return _hub_sst2()
        if (path, name) == ("rajpurkar/squad", None):
            return _hub_squad()
        raise ConnectionError(f"Couldn't reach '{path}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_schema_matches_local(fake_hub, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    hub = load_task("sst2", source="hub")
    assert hub.origin == "hub:nyu-mll/glue/sst2" and fake_hub == [("nyu-mll/glue", "sst2")]
    assert list(hub.splits) == ["train", "validation"]  # the unlabelled test split is not used
    local = load_task("sst2", ["validation"], data_dir=data_dir)
    assert hub.splits["validation"].features == local.splits["validation"].features
    assert hub.splits["train"][1] == {"sentence": "good .", "label": 1, "idx": 1}


def test_hub_squad_and_devsplit(fake_hub, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    hub = load_task("squad", ["validation"], source="hub").splits["validation"]
    local = load_task("squad", ["validation"], data_dir=data_dir).splits["validation"]
    assert hub.features == local.features
    parts = load_task("squad-devsplit", source="hub").splits
    assert (len(parts["train"]), len(parts["validation"])) == (38, 10)


def test_resolution_order(fake_hub, monkeypatch, tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    write_tsv(env_dir / "glue/SST-2/dev.tsv", ["sentence", "label"], [["env", "1"]])
    write_tsv(arg_dir / "glue/SST-2/dev.tsv", ["sentence", "label"], [["arg", "0"]])
    monkeypatch.setenv("ANALORA_DATA_DIR", str(env_dir))

    def first(**kw: object) -> str:
        return load_task("sst2", ["validation"], **kw).splits["validation"][0]["sentence"]  # type: ignore[arg-type]

    assert first(data_dir=arg_dir) == "arg"
    assert first() == "env"
    assert first(source="hub") == "bad ."
    assert fake_hub == [("nyu-mll/glue", "sst2")]
    monkeypatch.delenv("ANALORA_DATA_DIR")
    assert first() == "bad ."


def test_task_missing_locally_falls_back_to_hub(fake_hub, tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    write_tsv(tmp_path / "glue/RTE/dev.tsv", ["index", "sentence1", "sentence2", "label"], [])
    data = load_task("sst2", ["validation"], data_dir=tmp_path)
    assert data.origin.startswith("hub:")
    with pytest.raises(DataError, match=r"QNLI.*nor reachable on the Hub"):
        load_task("qnli", data_dir=tmp_path)
    with pytest.raises(DataError, match="no qnli files"):
        load_task("qnli", source="local", data_dir=tmp_path)


def test_offline_without_data_dir(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The real datasets.load_dataset, offline and with an empty cache (the flags are
    # read at import time, hence the attributes): a one-line error naming the fix.
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    with pytest.raises(DataError) as err:
        load_task("qnli")
    msg = str(err.value)
    assert "\n" not in msg and "--data-dir" in msg and "ANALORA_DATA_DIR" in msg


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"--data-dir .* is not a directory"):
        load_task("rte", data_dir=tmp_path / "nope")
    with pytest.raises(DataError, match="--source local needs"):
        load_task("rte", source="local")
    with pytest.raises(DataError, match="no split 'test'"):
        load_task("rte", ["test"], data_dir=tmp_path)
    with pytest.raises(DataError, match="--source 'web'"):
        load_task("rte", source="web")
