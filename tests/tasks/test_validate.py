"""Every field of every data source checked against its task: refused with
file:line and the fix, through the library and the CLI; a damaged token cache
is rebuilt; a window too short for its text is refused in one line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from datasets import Dataset

from analora.cli import main
from analora.errors import DataError
from analora.tasks.glue import features_for
from analora.tasks.preprocess import tokenize_split
from analora.tasks.registry import get_task
from analora.tasks.sources import load_task
from analora.tasks.validate import validate_dataset

STSB_HEADER = ["index", "genre", "filename", "year", "old_index", "source1", "source2"]
STSB_HEADER += ["sentence1", "sentence2", "score"]


def _stsb_row(i: int, score: str, s1: str = "A cat sits.", s2: str = "A cat sat.") -> list[str]:
    return [str(i), "main-captions", "MSRvid", "2012test", str(i), "none", "none", s1, s2, score]


def _one_line(capsys: Any, argv: list[str], *fragments: str) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert out == "" and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_stsb_score_out_of_range_through_cli(capsys, tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    rows = [_stsb_row(0, "3.2"), _stsb_row(1, "99999"), _stsb_row(2, "1.0")]
    path = write_tsv(tmp_path / "glue/STS-B/dev.tsv", STSB_HEADER, rows)
    argv = ["tasks", "show", "stsb", "--data-dir", str(tmp_path)]
    _one_line(capsys, argv, f"{path}:3 ", "99999", "0-5", "re-download")
    write_tsv(path, STSB_HEADER, [_stsb_row(0, "-0.5")])
    _one_line(capsys, argv, f"{path}:2 ", "-0.5")
    write_tsv(path, STSB_HEADER, [_stsb_row(0, "5.0"), _stsb_row(1, "0")])  # the ends are fine
    assert main(argv) == 0


def test_empty_sentence_names_file_and_line(capsys, tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    path = write_tsv(
        tmp_path / "glue/SST-2/dev.tsv", ["sentence", "label"], [["good", "1"], ["  ", "0"]]
    )
    _one_line(capsys, ["tasks", "show", "sst2", "--data-dir", str(tmp_path)], f"{path}:3 ", "empty")
    path = write_tsv(tmp_path / "glue/STS-B/dev.tsv", STSB_HEADER, [_stsb_row(0, "1", s2="")])
    with pytest.raises(DataError, match=f"{path}:2 has an empty 'sentence2'"):
        load_task("stsb", ["validation"], data_dir=tmp_path)


def _squad(qas: list[dict[str, Any]], context: str = "Ann ran to the shop.") -> dict[str, Any]:
    return {
        "version": "1.1",
        "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}],
    }


def _qa(qid: str, start: int, text: str, question: str = "Who ran?") -> dict[str, Any]:
    return {"id": qid, "question": question, "answers": [{"answer_start": start, "text": text}]}


def _write_squad(root: Path, doc: dict[str, Any]) -> Path:
    path = root / "squad" / "v1.1" / "dev-v1.1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().split("\n"), 1) if needle in ln)


@pytest.mark.parametrize(
    ("qas", "fragment"),
    [
        ([_qa("a1", 0, "Ann"), _qa("a2", 200, "shop")], "outside its context"),
        ([_qa("a1", 0, "Ann"), _qa("a2", 4, "shop")], "where the context reads 'ran '"),
        ([_qa("a1", 0, "Ann"), _qa("a2", -1, "Ann")], "answer_start -1"),
        ([_qa("a1", 0, "Ann"), {"id": "a2", "question": "Who?", "answers": []}], "without answers"),
        ([_qa("a1", 0, "Ann"), _qa("a2", 0, "Ann", question=" ")], "empty 'question'"),
        ([_qa("a1", 0, "Ann"), _qa("a2", 0, "")], "empty text"),
    ],
)
def test_squad_fields_through_cli(capsys, tmp_path: Path, qas, fragment: str) -> None:  # type: ignore[no-untyped-def]
    path = _write_squad(tmp_path, _squad(qas))
    line = _line_of(path, '"a2"')
    argv = ["tasks", "show", "squad", "--data-dir", str(tmp_path)]
    _one_line(capsys, argv, f"{path}:{line} ", "id 'a2'", fragment, "correct or remove")


def test_squad_repeated_id_points_at_the_repeat(tmp_path: Path) -> None:
    path = _write_squad(tmp_path, _squad([_qa("a1", 0, "Ann"), _qa("a1", 8, "to")]))
    lines = [i for i, ln in enumerate(path.read_text().split("\n"), 1) if '"a1"' in ln]
    with pytest.raises(DataError, match=f"{path}:{lines[1]} .*id 'a1' again"):
        load_task("squad", ["validation"], data_dir=tmp_path)
    _write_squad(tmp_path, _squad([_qa("a1", 0, "Ann"), _qa("a2", 8, "to")]))
    assert len(load_task("squad", ["validation"], data_dir=tmp_path).splits["validation"]) == 2


def test_hub_rows_are_checked_too() -> None:
    spec = get_task("rte")
    rows = {"sentence1": ["a", "b"], "sentence2": ["c", "d"], "label": [0, 1], "idx": [4, 4]}
    ds = Dataset.from_dict(rows, features=features_for(spec))
    with pytest.raises(DataError, match=r"hub row 1 has idx 4 again \(first at hub row 0\): fix"):
        validate_dataset(spec, ds, lambda i: f"hub row {i}", "fix")
    stsb = get_task("stsb")
    rows = {"sentence1": ["a"], "sentence2": ["b"], "label": [7.5], "idx": [0]}
    ds = Dataset.from_dict(rows, features=features_for(stsb))
    with pytest.raises(DataError, match=r"score 7\.5, outside STS-B.s range 0-5"):
        validate_dataset(stsb, ds, lambda i: f"row {i}", "fix")


def test_vendored_data_passes(data_dir: Path) -> None:
    for task in ("stsb", "squad"):
        assert load_task(task, ["validation"], data_dir=data_dir).splits["validation"]


# --- tokenising ----------------------------------------------------------


@pytest.fixture(scope="module")
def rte_dev(data_dir: Path) -> Dataset:
    return load_task("rte", ["validation"], data_dir=data_dir).splits["validation"].select(range(8))


def test_damaged_cache_entry_is_rebuilt(tokenizer, rte_dev, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    first = tokenize_split(tokenizer, "rte", rte_dev, "validation", 32, cache_dir=tmp_path)
    assert not first.from_cache and first.cache_path is not None
    expected = first.dataset["input_ids"][:]  # read now: the dataset maps the file
    arrow = next(first.cache_path.glob("*.arrow"))
    for damage in (lambda b: b[: len(b) // 2], lambda b: b[:-9] + b"\x00" * 9):
        arrow.write_bytes(damage(arrow.read_bytes()))
        with caplog.at_level(logging.WARNING, logger="analora.tasks.cache"):
            again = tokenize_split(tokenizer, "rte", rte_dev, "validation", 32, cache_dir=tmp_path)
        assert not again.from_cache and "damaged" in caplog.text
        assert again.dataset["input_ids"][:] == expected
        assert tokenize_split(
            tokenizer, "rte", rte_dev, "validation", 32, cache_dir=tmp_path
        ).from_cache
        caplog.clear()
    (first.cache_path / "analora-cache.json").write_text("{not json")
    again = tokenize_split(tokenizer, "rte", rte_dev, "validation", 32, cache_dir=tmp_path)
    assert not again.from_cache


def test_max_length_too_short(tokenizer, rte_dev, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=r"max_length=4 .* pass --max-length 11 or more"):
        tokenize_split(tokenizer, "rte", rte_dev, "validation", 4, use_cache=False)
    assert tokenize_split(tokenizer, "rte", rte_dev, "validation", 11, use_cache=False)
    squad = load_task("squad", ["validation"], data_dir=data_dir).splits["validation"]
    squad = squad.select(range(16))
    for split in ("train", "validation"):
        with pytest.raises(DataError, match=r"longest question \(id .*raise --max-length to"):
            tokenize_split(tokenizer, "squad", squad, split, 40, doc_stride=30, use_cache=False)
    msg = ""
    try:
        tokenize_split(tokenizer, "squad", squad, "train", 40, doc_stride=30, use_cache=False)
    except DataError as exc:
        msg = str(exc)
    need = int(msg.split("raise --max-length to ")[1].split()[0])
    assert tokenize_split(tokenizer, "squad", squad, "train", need, doc_stride=30, use_cache=False)


def test_cache_key_ignores_the_tokenizers_last_call(rte_dev, minilm_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from analora.tasks.cache import tokenizer_fingerprint

    fresh = AutoTokenizer.from_pretrained(str(minilm_dir))
    before = tokenizer_fingerprint(fresh)
    fresh("a b c", "d e", truncation=True, padding="max_length", max_length=8)
    assert tokenizer_fingerprint(fresh) == before  # so a new process hits the same entry


def test_data_fingerprint_follows_content_not_path(tmp_path: Path, write_tsv) -> None:  # type: ignore[no-untyped-def]
    from analora.tasks.sources import data_fingerprint, split_fingerprints

    rows = [_stsb_row(0, "3.2"), _stsb_row(1, "1.0")]
    write_tsv(tmp_path / "a/glue/STS-B/dev.tsv", STSB_HEADER, rows)
    write_tsv(tmp_path / "b/STS-B/dev.tsv", STSB_HEADER, rows)  # the same rows elsewhere
    a = load_task("stsb", ["validation"], data_dir=tmp_path / "a")
    b = load_task("stsb", ["validation"], data_dir=tmp_path / "b")
    assert data_fingerprint(a) == data_fingerprint(b)
    assert set(split_fingerprints(a)) == {"validation"}
    write_tsv(tmp_path / "b/STS-B/dev.tsv", STSB_HEADER, [rows[0], _stsb_row(1, "1.5")])
    c = load_task("stsb", ["validation"], data_dir=tmp_path / "b")
    assert data_fingerprint(c) != data_fingerprint(a)
    write_tsv(
        tmp_path / "b/STS-B/dev.tsv", STSB_HEADER, [rows[0], _stsb_row(1, "1.0", s2="A dog.")]
    )
    d = load_task("stsb", ["validation"], data_dir=tmp_path / "b")
    assert data_fingerprint(d) not in (data_fingerprint(a), data_fingerprint(c))


def test_cache_entries_follow_the_umask(tokenizer, rte_dev, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    old = os.umask(0o022)
    try:
        entry = tokenize_split(tokenizer, "rte", rte_dev, "validation", 32, cache_dir=tmp_path)
    finally:
        os.umask(old)
    assert entry.cache_path is not None
    assert stat.S_IMODE(entry.cache_path.stat().st_mode) == 0o755
