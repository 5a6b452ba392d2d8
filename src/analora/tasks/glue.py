"""Reading GLUE task folders as written by GLUE's ``download_glue_data.py``.

GLUE ships tab-separated files with no quoting at all: sentences may contain
``"`` characters, so the files are split on tabs, never parsed with CSV quoting.
Further quirks handled here (see ``../shared/data/README.md``):

- CoLA's ``train.tsv``/``dev.tsv`` have no header row (columns: source, label,
  original label mark, sentence);
- MRPC's header starts with a UTF-8 byte-order mark;
- STS-B and MNLI rows have many columns, so columns are picked by header name;
- MNLI's dev files carry ``label1..label5`` while train carries ``label1`` only;
  the label is ``gold_label`` in both.

Lines are split on ``"\\n"`` only (not ``str.splitlines``), because sentence text
may legitimately contain characters such as U+2028 or U+0085 that
``splitlines`` would treat as line breaks.

The result is a :class:`datasets.Dataset` with the same columns and features as
the Hub's ``nyu-mll/glue`` (text columns, ``label`` as ``ClassLabel`` or
float32 for STS-B, ``idx`` as int32 row number).

Source: Wang et al., "GLUE: A Multi-Task Benchmark and Analysis Platform for
Natural Language Understanding" (ICLR 2019).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from datasets import ClassLabel, Dataset, Features, Value

from analora.errors import DataError
from analora.tasks.registry import TaskSpec
from analora.tasks.validate import FIX_FILE, score_problem, text_problem

logger = logging.getLogger(__name__)

_FIX = "pass --data-dir with a GLUE-format folder or set ANALORA_DATA_DIR"


def features_for(spec: TaskSpec) -> Features:
    """The Hub-compatible features of a GLUE task split."""
    cols: dict[str, object] = {c: Value("string") for c in spec.text_columns}
    if spec.label_names is None:
        cols["label"] = Value("float32")
    else:
        cols["label"] = ClassLabel(names=list(spec.label_names))
    cols["idx"] = Value("int32")
    return Features(cols)


def read_text(path: Path) -> str:
    """A whole UTF-8 file (a leading BOM dropped); unreadable files raise DataError."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist: {_FIX}") from None
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 (byte {exc.start}): re-download the file or point --data-dir "
            "at an unmodified copy"
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot read {path} ({exc.strerror or exc}): check its permissions or {_FIX}"
        ) from None


def read_tsv(
    path: Path, header: tuple[str, ...] | None = None
) -> tuple[tuple[str, ...], list[list[str]]]:
    """Header and rows of an unquoted TSV; every row must have as many fields as the header.

    ``header`` is given for files without a header row (CoLA).
    """
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = 1
    if header is None:
        if not lines:
            raise DataError(f"{path} is empty (no header row): re-download it or {_FIX}")
        header = tuple(lines[0].rstrip("\r").split("\t"))
    else:
        first = 0
    rows = []
    for lineno, line in enumerate(lines[first:], start=first + 1):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != len(header):
            raise DataError(
                f"{path}:{lineno} has {len(fields)} tab-separated columns, expected "
                f"{len(header)}: the file is damaged or not in GLUE format; re-download it"
            )
        rows.append(fields)
    return header, rows


def load_glue_split(spec: TaskSpec, folder: Path, split: str) -> Dataset:
    """One split of a GLUE task from its folder (e.g. ``.../glue/RTE``), Hub schema."""
    path = folder / spec.split_files[split]
    if not path.is_file():
        present = sorted(p.name for p in folder.glob("*.tsv"))
        raise DataError(
            f"{spec.name} split {split!r} needs {path}, which is missing "
            f"(folder holds: {', '.join(present) or 'no .tsv files'}): add the file or {_FIX}"
        )
    header, rows = read_tsv(path, spec.tsv_header)
    if not rows:
        raise DataError(f"{path} has no data rows (split {split!r} is empty): re-download it")
    index: dict[str, int] = {}
    for src in spec.tsv_columns:
        if src not in header:
            raise DataError(
                f"{path} has no column {src!r} (header: {', '.join(header)}): "
                f"is this the {spec.folder} file of GLUE?"
            )
        index[src] = header.index(src)
    columns: dict[str, list[object]] = {c: [] for c in (*spec.text_columns, "label")}
    label_col = spec.label_column
    assert label_col is not None
    lab_i = index[label_col]
    label_ids = {s: i for i, s in enumerate(spec.tsv_labels or ())}
    for n, row in enumerate(rows):
        lineno = n + (1 if spec.tsv_header is not None else 2)
        for src, dst in spec.tsv_columns.items():
            if dst != "label":
                problem = text_problem(src, row[index[src]])
                if problem:
                    raise DataError(f"{path}:{lineno} has {problem}: {FIX_FILE}")
                columns[dst].append(row[index[src]])
        raw = row[lab_i].strip()
        columns["label"].append(_label(spec, raw, label_ids, path, lineno))
    columns["idx"] = list(range(len(rows)))
    logger.info("read %d rows of %s/%s from %s", len(rows), spec.name, split, path)
    return Dataset.from_dict(columns, features=features_for(spec))


def _label(spec: TaskSpec, raw: str, ids: dict[str, int], path: Path, lineno: int) -> object:
    if spec.tsv_labels is None:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(
                f"{path}:{lineno} has score {raw!r} in column {spec.label_column!r}, "
                "expected a number: the file is damaged; re-download it"
            )
        problem = score_problem(spec, value)
        if problem:
            raise DataError(f"{path}:{lineno} has {problem}: {FIX_FILE}")
        return value
    if raw not in ids:
        raise DataError(
            f"{path}:{lineno} has label {raw!r}, expected one of {', '.join(ids)}: "
            "the file is damaged or belongs to another task"
        )
    return ids[raw]


def find_glue_folder(spec: TaskSpec, root: Path) -> Path | None:
    """The task folder under a data root: ``root/glue/<Task>`` or ``root/<Task>``.

    The second form accepts the ``glue_data`` folder the GLUE script writes.
    """
    for candidate in (root / "glue" / spec.folder, root / spec.folder):
        if candidate.is_dir():
            return candidate
    return None
