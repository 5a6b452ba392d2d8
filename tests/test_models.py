"""A task model records its task's label names; heads are found by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from analora.errors import ModelLoadError
from analora.models import head_modules, load_model, set_label_names
from analora.tasks.registry import label_names


def test_label_names_of_tasks() -> None:
    assert label_names("rte") == ("entailment", "not_entailment")
    assert label_names("sst2") == ("negative", "positive")
    assert label_names("stsb") == ("score",)
    assert label_names("squad") == ("start", "end")


def test_saved_model_carries_label_names(tiny_dir: Path, tmp_path: Path) -> None:
    model = load_model(str(tiny_dir), "sequence-classification")
    assert model.config.id2label == {0: "LABEL_0", 1: "LABEL_1"}  # what transformers writes
    set_label_names(model, label_names("rte"))
    model.save_pretrained(str(tmp_path / "m"))
    again = load_model(str(tmp_path / "m"), "sequence-classification")
    assert again.config.id2label == {0: "entailment", 1: "not_entailment"}
    assert again.config.label2id == {"entailment": 0, "not_entailment": 1}
    with pytest.raises(ModelLoadError, match=r"3 label names .* head with 2 outputs"):
        set_label_names(model, label_names("mnli"))
    stsb = load_model(str(tiny_dir), "sequence-classification", num_labels=1)
    set_label_names(stsb, label_names("stsb"))
    assert stsb.config.id2label == {0: "score"}


def test_head_modules(tiny_dir: Path) -> None:
    assert head_modules(load_model(str(tiny_dir), "sequence-classification")) == [
        "dropout",
        "classifier",
    ]
    assert head_modules(load_model(str(tiny_dir), "question-answering")) == ["qa_outputs"]
    assert head_modules(load_model(str(tiny_dir), "base")) == []
