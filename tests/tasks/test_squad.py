"""SQuAD v1.1 JSON reading and the squad-devsplit protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analora.errors import DataError
from analora.tasks.sources import load_task
from analora.tasks.squad import devsplit_titles, load_squad_file


@pytest.fixture(scope="module")
def dev(data_dir: Path):  # type: ignore[no-untyped-def]
    return load_task("squad", ["validation"], data_dir=data_dir).splits["validation"]


def test_dev_counts(dev) -> None:  # type: ignore[no-untyped-def]
    # ../shared/data/README.md: 10,570 questions in 48 articles.
    assert len(dev) == 10570
    assert len(set(dev["title"])) == 48
    assert dev.column_names == ["id", "title", "context", "question", "answers"]
    # README: "every answer span matches its context"; check the first rows.
    for row in dev.select(range(50)):
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            assert row["context"][start : start + len(text)] == text


def test_missing_train_file_names_the_fix(data_dir: Path) -> None:
    with pytest.raises(DataError, match=r"train-v1\.1\.json.*squad-devsplit"):
        load_task("squad", ["train"], data_dir=data_dir)


def test_devsplit_counts_disjoint_deterministic(data_dir: Path, dev) -> None:  # type: ignore[no-untyped-def]
    parts = load_task("squad-devsplit", data_dir=data_dir).splits
    train_titles = set(parts["train"]["title"])
    eval_titles = set(parts["validation"]["title"])
    assert (len(train_titles), len(eval_titles)) == (38, 10)
    assert not train_titles & eval_titles
    assert len(parts["train"]) + len(parts["validation"]) == 10570
    assert not set(parts["train"]["id"]) & set(parts["validation"]["id"])
    titles = list(dev["title"])
    assert devsplit_titles(titles, 0) == devsplit_titles(list(reversed(titles)), 0)
    assert devsplit_titles(titles, 0)[1] != devsplit_titles(titles, 1)[1]
    again = load_task("squad-devsplit", ["validation"], data_dir=data_dir).splits["validation"]
    assert again["id"] == parts["validation"]["id"]


def _write(path: Path, doc: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_small_file_and_missing_field(tmp_path: Path) -> None:
    qa = {"id": "q1", "question": "Who?", "answers": [{"answer_start": 0, "text": "Ann"}]}
    paragraph = {"context": "Ann ran.", "qas": [qa]}
    doc = {"version": "1.1", "data": [{"title": "T", "paragraphs": [paragraph]}]}
    ds = load_squad_file(_write(tmp_path / "squad/v1.1/dev-v1.1.json", doc))
    assert ds[0]["answers"] == {"text": ["Ann"], "answer_start": [0]}
    del qa["question"]
    path = _write(tmp_path / "bad.json", doc)
    with pytest.raises(
        DataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\] has no field 'question'"
    ):
        load_squad_file(path)
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        load_squad_file(tmp_path / "broken.json")
