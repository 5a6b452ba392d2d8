"""GLUE folders: vendored row counts and label balances, format quirks, and errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from analora.errors import DataError
from analora.tasks.glue import read_tsv
from analora.tasks.sources import load_task

# Row counts and label balances from ../shared/data/README.md ("Layout and status"
# and "Independent confirmation"), themselves the canonical GLUE figures.
COUNTS = {
    "cola": (8551, 1043),
    "sst2": (67349, 872),
    "mrpc": (3668, 408),
    "rte": (2490, 277),
    "stsb": (5749, 1500),
    "wnli": (635, 71),
}
BALANCE = {  # label id -> rows; ids in the Hub's ClassLabel order
    "cola": ({1: 6023, 0: 2528}, {1: 721, 0: 322}),
    "sst2": ({1: 37569, 0: 29780}, {1: 444, 0: 428}),
    "mrpc": ({1: 2474, 0: 1194}, None),
    "rte": ({0: 1249, 1: 1241}, {0: 146, 1: 131}),  # 0 = entailment
    "wnli": ({0: 323, 1: 312}, {0: 40, 1: 31}),
}


@pytest.mark.parametrize("task", sorted(COUNTS))
def test_vendored_counts_and_balance(task: str, data_dir: Path) -> None:
    data = load_task(task, data_dir=data_dir)
    assert data.origin == f"local:{data_dir}"
    assert (len(data.splits["train"]), len(data.splits["validation"])) == COUNTS[task]
    for split, expected in zip(("train", "validation"), BALANCE.get(task, ()), strict=False):
        if expected is not None:
            assert Counter(data.splits[split]["label"]) == expected
    assert data.splits["validation"]["idx"][:3] == [0, 1, 2]


def test_format_quirks(data_dir: Path) -> None:
    cola = load_task("cola", ["validation"], data_dir=data_dir).splits["validation"]
    # CoLA has no header: the first line of dev.tsv is a data row.
    assert cola[0]["sentence"] == "The sailors rode the breeze clear of the rocks."
    mrpc = load_task("mrpc", ["validation"], data_dir=data_dir).splits["validation"]
    assert set(mrpc.column_names) == {"sentence1", "sentence2", "label", "idx"}  # BOM stripped
    stsb = load_task("stsb", ["validation"], data_dir=data_dir).splits["validation"]
    scores = stsb["label"]
    assert min(scores) == 0.0 and max(scores) == 5.0  # README: scores span 0.000-5.000
    assert stsb.features["label"].dtype == "float32"
    sst2 = load_task("sst2", ["validation"], data_dir=data_dir).splits["validation"]
    assert sst2.features["label"].names == ["negative", "positive"]


def test_quotes_are_kept(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    rows = [["0", 'a "quoted', 'b"', "entailment"], ["1", '"', "x", "not_entailment"]]
    write_tsv(tmp_path / "glue/RTE/train.tsv", ["index", "sentence1", "sentence2", "label"], rows)
    ds = load_task("rte", ["train"], data_dir=tmp_path).splits["train"]
    assert ds["sentence1"] == ['a "quoted', '"'] and ds["label"] == [0, 1]


def test_glue_data_layout_without_glue_folder(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    # download_glue_data.py writes glue_data/<Task>/ directly.
    write_tsv(tmp_path / "SST-2/dev.tsv", ["sentence", "label"], [["good", "1"]])
    assert load_task("sst2", ["validation"], data_dir=tmp_path).splits["validation"]["label"] == [1]


def test_synthetic_qqp_qnli(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    write_tsv(tmp_path / "glue/QQP/dev.tsv", header, [["7", "1", "2", "a?", "b?", "1"]])
    qqp = load_task("qqp", ["validation"], data_dir=tmp_path).splits["validation"]
    assert qqp[0] == {"question1": "a?", "question2": "b?", "label": 1, "idx": 0}
    header = ["index", "question", "sentence", "label"]
    rows = [["0", "q?", "s.", "not_entailment"], ["1", "q2?", "s2.", "entailment"]]
    write_tsv(tmp_path / "glue/QNLI/train.tsv", header, rows)
    qnli = load_task("qnli", ["train"], data_dir=tmp_path).splits["train"]
    assert qnli["label"] == [1, 0] and qnli.features["label"].names[0] == "entailment"


def _mnli_header(n_labels: int) -> list[str]:
    labels = [f"label{i}" for i in range(1, n_labels + 1)]
    return [
        "index", "promptID", "pairID", "genre",
        "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
        "sentence1", "sentence2", *labels, "gold_label",
    ]  # fmt: skip


def test_synthetic_mnli(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "glue/MNLI"
    parse = ["( a )", "( b )", "(ROOT a)", "(ROOT b)"]
    write_tsv(
        folder / "train.tsv",
        _mnli_header(1),
        [["0", "1", "1e", "fiction", *parse, "A man.", "A person.", "neutral", "neutral"]],
    )
    dev = [["0", "2", "2c", "slate", *parse, "P.", "H.", "contradiction", *["neutral"] * 4,
            "contradiction"]]  # fmt: skip
    write_tsv(folder / "dev_matched.tsv", _mnli_header(5), dev)
    write_tsv(folder / "dev_mismatched.tsv", _mnli_header(5), dev + dev)
    data = load_task("mnli", data_dir=tmp_path).splits
    assert list(data) == ["train", "validation_matched", "validation_mismatched"]
    assert data["train"][0] == {
        "premise": "A man.",
        "hypothesis": "A person.",
        "label": 1,
        "idx": 0,
    }
    assert data["validation_matched"]["label"] == [2]
    assert len(data["validation_mismatched"]) == 2


def test_missing_split(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    write_tsv(tmp_path / "glue/MNLI/train.tsv", _mnli_header(1), [])
    with pytest.raises(DataError, match=r"dev_mismatched\.tsv.*missing.*--data-dir"):
        load_task("mnli", ["validation_mismatched"], data_dir=tmp_path)


def test_empty_split(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    write_tsv(tmp_path / "glue/SST-2/train.tsv", ["sentence", "label"], [])
    with pytest.raises(DataError, match="no data rows"):
        load_task("sst2", ["train"], data_dir=tmp_path)


def test_wrong_column_count_names_file_and_line(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    rows = [["good", "1"], ["bad\textra", "0"]]
    path = write_tsv(tmp_path / "glue/SST-2/train.tsv", ["sentence", "label"], rows)
    with pytest.raises(DataError, match=rf"{path}:3 has 3 tab-separated columns, expected 2"):
        load_task("sst2", ["train"], data_dir=tmp_path)


def test_headerless_cola_line_numbers(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    path = write_tsv(
        tmp_path / "glue/CoLA/dev.tsv", [], [["s", "1", "", "Ok."], ["s", "2", "", "x"]]
    )
    with pytest.raises(DataError, match=rf"{path}:2 has label '2'"):
        load_task("cola", ["validation"], data_dir=tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "glue/SST-2/dev.tsv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"sentence\tlabel\ncaf\xe9\t1\n")
    with pytest.raises(DataError, match="is not UTF-8"):
        load_task("sst2", ["validation"], data_dir=tmp_path)


def test_unreadable_file(tmp_path: Path, write_tsv, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = write_tsv(tmp_path / "glue/SST-2/dev.tsv", ["sentence", "label"], [["a", "1"]])

    # chmod 0 does not stop root (CI runs as root), so the OS error is simulated.
    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(DataError, match=rf"cannot read {path} \(Permission denied\).*--data-dir"):
        load_task("sst2", ["validation"], data_dir=tmp_path)


def test_directory_in_place_of_file(tmp_path: Path) -> None:
    (tmp_path / "glue/SST-2/dev.tsv").mkdir(parents=True)
    (tmp_path / "glue/SST-2/train.tsv").write_text("sentence\tlabel\nx\t1\n")
    with pytest.raises(DataError, match="missing"):
        load_task("sst2", ["validation"], data_dir=tmp_path)


def test_read_tsv_keeps_unicode_line_separators(tmp_path: Path) -> None:
    # U+2028 inside a sentence must not split the row (str.splitlines would).
    path = tmp_path / "x.tsv"
    path.write_text("sentence\tlabel\na\u2028b\t1\n", encoding="utf-8")
    header, rows = read_tsv(path)
    assert header == ("sentence", "label") and rows == [["a\u2028b", "1"]]
