"""The registry holds GLUE's nine tasks and SQuAD v1.1, with consistent specs."""

import pytest

from analora.errors import DataError
from analora.tasks.registry import GLUE_TASKS, TASKS, get_task


def test_all_tasks_registered() -> None:
    assert GLUE_TASKS == ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli")
    assert set(TASKS) == {*GLUE_TASKS, "squad", "squad-devsplit"}


def test_metrics_follow_the_glue_paper() -> None:
    # GLUE paper (Wang et al. 2019), table 1: metric per task.
    expected = {
        "cola": ("matthews_correlation",),
        "sst2": ("accuracy",),
        "mrpc": ("f1", "accuracy"),
        "qqp": ("f1", "accuracy"),
        "stsb": ("pearson", "spearman"),
        "mnli": ("accuracy",),
        "qnli": ("accuracy",),
        "rte": ("accuracy",),
        "wnli": ("accuracy",),
        "squad": ("exact_match", "f1"),
    }
    for name, metrics in expected.items():
        assert TASKS[name].metrics == metrics


def test_heads_lengths_and_splits() -> None:
    assert get_task("stsb").head == "regression" and get_task("stsb").num_labels == 1
    assert get_task("mnli").num_labels == 3
    assert get_task("mnli").eval_splits == ("validation_matched", "validation_mismatched")
    assert get_task("squad").head == "question-answering"
    assert (get_task("squad").max_length, get_task("squad").doc_stride) == (384, 128)
    assert all(TASKS[t].max_length == 128 for t in GLUE_TASKS)
    assert all(TASKS[t].text_columns for t in TASKS)


def test_lookup_aliases_and_did_you_mean() -> None:
    assert get_task("SST-2").name == "sst2"
    assert get_task("STS-B").name == "stsb"
    with pytest.raises(DataError, match="did you mean 'mrpc'"):
        get_task("mrcp")


def test_specs_are_frozen() -> None:
    with pytest.raises(AttributeError):
        TASKS["rte"].max_length = 256  # type: ignore[misc]


def test_layering() -> None:
    # tasks/ sits below the analog engine: it must not import it (STYLE: layered package).
    import ast
    from pathlib import Path

    import analora.tasks

    for path in Path(analora.tasks.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    assert not name.startswith(("analora.analog", "analora.hardware")), path
