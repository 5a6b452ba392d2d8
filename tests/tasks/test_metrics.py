"""Metrics against hand-computed values (arithmetic in the comments), and the GLUE score."""

from __future__ import annotations

import pytest

from analora.tasks.metrics import (
    GLUE_ENTRIES,
    MetricError,
    compute_metrics,
    glue_entry,
    glue_score,
    normalize_answer,
    squad_f1,
    squad_metrics,
)


def test_matthews() -> None:
    # TP=2 (rows 0,4), FP=1 (row 1), TN=2, FN=0:
    # MCC = (2*2 - 1*0) / sqrt((2+1)(2+0)(2+1)(2+0)) = 4/6
    got = compute_metrics("cola", [1, 1, 0, 0, 1], [1, 0, 0, 0, 1])
    assert got == {"matthews_correlation": pytest.approx(100 * 4 / 6)}


def test_f1_and_accuracy() -> None:
    # TP=2, FP=1, FN=1, TN=1: F1 = 2*2 / (2*2 + 1 + 1) = 4/6; accuracy = 3/5
    got = compute_metrics("mrpc", [1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert got == {"f1": pytest.approx(100 * 4 / 6), "accuracy": pytest.approx(60.0)}
    assert compute_metrics("qqp", [0, 0], [0, 1])["f1"] == 0.0  # no true positive


def test_accuracy_from_logits() -> None:
    # argmax of [[2,1],[0,3],[1,0]] = [0,1,0] against [0,0,1]: only row 0 matches, 1/3
    got = compute_metrics("rte", [[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]], [0, 0, 1])
    assert got == {"accuracy": pytest.approx(100 / 3)}


def test_pearson_spearman() -> None:
    # pred [1,2,3,10] (mean 4, deviations -3,-2,-1,6), ref [1,3,2,4] (mean 2.5,
    # deviations -1.5,.5,-.5,1.5): cov sum = 4.5-1+.5+9 = 13, sum sq 50 and 5,
    # Pearson = 13/sqrt(250). Ranks of pred are 1,2,3,4, so Spearman = Pearson of
    # [1,2,3,4] and [1,3,2,4] = 4/sqrt(5*5) = 0.8.
    got = compute_metrics("stsb", [[1.0], [2.0], [3.0], [10.0]], [1.0, 3.0, 2.0, 4.0])
    assert got["pearson"] == pytest.approx(100 * 13 / 250**0.5)
    assert got["spearman"] == pytest.approx(80.0)


def test_shape_mismatch() -> None:
    with pytest.raises(MetricError, match="do not match"):
        compute_metrics("sst2", [0, 1, 1], [0, 1])


def test_squad_normalisation_and_f1() -> None:
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    # normalised tokens: pred [cat, sat, on, mat], gold [cat, on, mat]: overlap 3,
    # P = 3/4, R = 3/3, F1 = 2*(3/4)*1 / (3/4 + 1) = 6/7
    assert squad_f1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    assert squad_f1("", "") == 0.0  # v1.1 script: no overlap scores 0, even for two empties


def test_squad_known_predictions() -> None:
    refs = {
        "q1": ["Denver Broncos", "The Denver Broncos"],
        "q2": ["a cat on a mat", "dog"],
        "q3": ["Santa Clara"],
    }
    preds = {"q1": "denver broncos", "q2": "the cat sat on the mat"}  # q3 unanswered
    # EM: q1 1, q2 0, q3 0 -> 100/3. F1: q1 1, q2 max(6/7, 0), q3 0 -> 100*(1+6/7)/3
    got = squad_metrics(preds, refs)
    assert got["exact_match"] == pytest.approx(100 / 3)
    assert got["f1"] == pytest.approx(100 * 13 / 21)


def test_glue_score_partial() -> None:
    results = {
        "cola": {"matthews_correlation": 50.0},
        "mrpc": {"f1": 90.0, "accuracy": 86.0},  # task score (90+86)/2 = 88
        "stsb": {"pearson": 88.0, "spearman": 87.0},  # 87.5
        "mnli-m": {"accuracy": 84.0},
        "mnli-mm": {"accuracy": 83.0},
    }
    got = glue_score(results)
    # (50 + 88 + 87.5 + 84 + 83) / 5 = 78.5
    assert got.score == pytest.approx(78.5)
    assert got.per_entry["mrpc"] == pytest.approx(88.0)
    assert got.missing == ("sst2", "qqp", "qnli", "rte", "wnli") and not got.complete


def test_glue_score_reproduces_bert_large_average() -> None:
    # Devlin et al. 2019, table 1, BERT-large: MNLI 86.7/85.9, QQP 72.1, QNLI 92.7,
    # SST-2 94.9, CoLA 60.5, STS-B 86.5, MRPC 89.3, RTE 70.1; "Average" 82.1 over
    # these nine figures (WNLI excluded), which needs MNLI-m and MNLI-mm as two entries:
    # 738.7 / 9 = 82.08. (BERT reports one figure per task, so both metrics get it.)
    figures = {"mnli-m": 86.7, "mnli-mm": 85.9, "qqp": 72.1, "qnli": 92.7, "sst2": 94.9,
               "cola": 60.5, "stsb": 86.5, "mrpc": 89.3, "rte": 70.1}  # fmt: skip
    metric_names = {"cola": ["matthews_correlation"], "stsb": ["pearson", "spearman"],
                    "mrpc": ["f1", "accuracy"], "qqp": ["f1", "accuracy"]}  # fmt: skip
    results = {e: dict.fromkeys(metric_names.get(e, ["accuracy"]), v) for e, v in figures.items()}
    entries = [e for e in GLUE_ENTRIES if e != "wnli"]
    got = glue_score(results, entries)
    assert round(got.score, 1) == 82.1 and got.complete


def test_glue_score_errors() -> None:
    assert glue_entry("mnli", "validation_mismatched") == "mnli-mm"
    with pytest.raises(MetricError, match="unknown GLUE entries mnli"):
        glue_score({"mnli": {"accuracy": 80.0}})
    with pytest.raises(MetricError, match="lacks metric"):
        glue_score({"mrpc": {"f1": 80.0}})
