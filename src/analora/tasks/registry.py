"""The task registry: GLUE's nine tasks and SQuAD v1.1, each a frozen :class:`TaskSpec`.

A spec says where a task's data lives (GLUE folder and file names, Hugging Face
Hub id and config), how its rows are read (text columns, label column, label
set or regression), and how it is scored (metrics, primary metric).

Column and label names follow the Hub's ``nyu-mll/glue`` and ``rajpurkar/squad``
schemas, so a dataset read from a local folder looks exactly like one loaded
from the Hub. Label ids follow the Hub's ``ClassLabel`` order, which is also the
order GLUE's own TSV files imply (e.g. RTE ``entailment`` = 0).

Sources: Wang et al., "GLUE: A Multi-Task Benchmark and Analysis Platform for
Natural Language Understanding" (ICLR 2019), table 1 for tasks and metrics;
Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension of Text"
(EMNLP 2016) for SQuAD; max lengths follow BERT's GLUE (128) and SQuAD (384,
doc stride 128) recipes (Devlin et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from analora.errors import DataError, did_you_mean

HEAD_TYPES = ("sequence-classification", "regression", "question-answering")


@dataclass(frozen=True)
class TaskSpec:
    """One task: its data layout, label set, head and metrics.

    ``tsv_columns`` maps a TSV header name to the normalised (Hub) column name;
    ``tsv_header`` is set only for files without a header row (CoLA).
    ``tsv_labels`` are the label strings as written in the TSV, in id order;
    ``label_names`` are the Hub's ``ClassLabel`` names for the same ids.
    """

    name: str
    head: str
    text_columns: tuple[str, ...]
    metrics: tuple[str, ...]
    primary_metric: str
    max_length: int
    hub_path: str
    hub_config: str | None
    # split name (Hub spelling) -> file name inside the task folder
    split_files: MappingProxyType[str, str]
    eval_splits: tuple[str, ...]
    folder: str
    label_column: str | None = None
    tsv_columns: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tsv_header: tuple[str, ...] | None = None
    tsv_labels: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None
    doc_stride: int | None = None
    vendored: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        # Internal invariants of the shipped table, not user input.
        assert self.head in HEAD_TYPES, self.head
        assert self.primary_metric in self.metrics, (self.name, self.primary_metric)
        assert set(self.eval_splits) <= set(self.split_files), self.name
        assert 1 <= len(self.text_columns) <= 2, self.name
        if self.head == "sequence-classification":
            assert self.tsv_labels and self.label_names, self.name
            assert len(self.tsv_labels) == len(self.label_names), self.name

    @property
    def num_labels(self) -> int:
        """Output width of the head: classes, 1 for regression, 2 (start/end) for QA."""
        if self.head == "regression":
            return 1
        if self.head == "question-answering":
            return 2
        assert self.label_names is not None
        return len(self.label_names)

    @property
    def model_class(self) -> str:
        """The model class the task trains: question answering, else sequence
        classification (a regression task is one with a single output)."""
        return (
            "question-answering" if self.head == "question-answering" else "sequence-classification"
        )

    @property
    def is_glue(self) -> bool:
        return self.hub_path == "nyu-mll/glue"

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.split_files)


def _glue(
    name: str,
    folder: str,
    text: dict[str, str],
    label: str,
    labels: tuple[str, ...] | None,
    names: tuple[str, ...] | None,
    metrics: tuple[str, ...],
    primary: str,
    *,
    header: tuple[str, ...] | None = None,
    splits: dict[str, str] | None = None,
    vendored: tuple[str, ...] = (),
) -> TaskSpec:
    files = splits or {"train": "train.tsv", "validation": "dev.tsv"}
    return TaskSpec(
        name=name,
        head="regression" if labels is None else "sequence-classification",
        text_columns=tuple(text.values()),
        metrics=metrics,
        primary_metric=primary,
        max_length=128,
        hub_path="nyu-mll/glue",
        hub_config=name,
        split_files=MappingProxyType(files),
        eval_splits=tuple(s for s in files if s != "train"),
        folder=folder,
        label_column=label,
        tsv_columns=MappingProxyType({**text, label: "label"}),
        tsv_header=header,
        tsv_labels=labels,
        label_names=names,
        vendored=vendored,
    )


_BOTH = ("train", "validation")
_NLI2 = ("entailment", "not_entailment")

_SQUAD = TaskSpec(
    name="squad",
    head="question-answering",
    text_columns=("question", "context"),
    metrics=("exact_match", "f1"),
    primary_metric="f1",
    max_length=384,
    doc_stride=128,
    hub_path="rajpurkar/squad",
    hub_config=None,
    split_files=MappingProxyType({"train": "train-v1.1.json", "validation": "dev-v1.1.json"}),
    eval_splits=("validation",),
    folder="squad/v1.1",
    vendored=("validation",),
)


_SPECS = (
    _glue(
        "cola",
        "CoLA",
        {"sentence": "sentence"},
        "label",
        ("0", "1"),
        ("unacceptable", "acceptable"),
        ("matthews_correlation",),
        "matthews_correlation",
        # CoLA's TSVs have no header row; these are the columns GLUE documents.
        header=("source", "label", "original_label", "sentence"),
        vendored=_BOTH,
    ),
    _glue(
        "sst2",
        "SST-2",
        {"sentence": "sentence"},
        "label",
        ("0", "1"),
        ("negative", "positive"),
        ("accuracy",),
        "accuracy",
        vendored=_BOTH,
    ),
    _glue(
        "mrpc",
        "MRPC",
        {"#1 String": "sentence1", "#2 String": "sentence2"},
        "Quality",
        ("0", "1"),
        ("not_equivalent", "equivalent"),
        ("f1", "accuracy"),
        "f1",
        vendored=_BOTH,
    ),
    _glue(
        "qqp",
        "QQP",
        {"question1": "question1", "question2": "question2"},
        "is_duplicate",
        ("0", "1"),
        ("not_duplicate", "duplicate"),
        ("f1", "accuracy"),
        "f1",
    ),
    _glue(
        "stsb",
        "STS-B",
        {"sentence1": "sentence1", "sentence2": "sentence2"},
        "score",
        None,
        None,
        ("pearson", "spearman"),
        "spearman",
        vendored=_BOTH,
    ),
    _glue(
        "mnli",
        "MNLI",
        {"sentence1": "premise", "sentence2": "hypothesis"},
        "gold_label",
        ("entailment", "neutral", "contradiction"),
        ("entailment", "neutral", "contradiction"),
        ("accuracy",),
        "accuracy",
        splits={
            "train": "train.tsv",
            "validation_matched": "dev_matched.tsv",
            "validation_mismatched": "dev_mismatched.tsv",
        },
    ),
    _glue(
        "qnli",
        "QNLI",
        {"question": "question", "sentence": "sentence"},
        "label",
        _NLI2,
        _NLI2,
        ("accuracy",),
        "accuracy",
    ),
    _glue(
        "rte",
        "RTE",
        {"sentence1": "sentence1", "sentence2": "sentence2"},
        "label",
        _NLI2,
        _NLI2,
        ("accuracy",),
        "accuracy",
        vendored=_BOTH,
    ),
    _glue(
        "wnli",
        "WNLI",
        {"sentence1": "sentence1", "sentence2": "sentence2"},
        "label",
        ("0", "1"),
        ("not_entailment", "entailment"),
        ("accuracy",),
        "accuracy",
        vendored=_BOTH,
    ),
    _SQUAD,
    replace(
        _SQUAD,
        name="squad-devsplit",
        # Both splits are cut out of the official dev file, by article.
        split_files=MappingProxyType({"train": "dev-v1.1.json", "validation": "dev-v1.1.json"}),
        vendored=("train", "validation"),
        note="article-disjoint split of SQuAD v1.1 dev (38/10 articles); NOT the official protocol",
    ),
)

TASKS: MappingProxyType[str, TaskSpec] = MappingProxyType({s.name: s for s in _SPECS})
GLUE_TASKS: tuple[str, ...] = tuple(s.name for s in _SPECS if s.is_glue)


def task_names() -> tuple[str, ...]:
    """Names of all registered tasks, in registry order."""
    return tuple(TASKS)


def get_task(name: str | TaskSpec) -> TaskSpec:
    """The spec of a task by name (case-insensitive; ``sst-2`` and ``sts-b`` also accepted)."""
    if isinstance(name, TaskSpec):
        return name
    key = name.strip().lower()
    key = {"sst-2": "sst2", "sts-b": "stsb", "squad-v1.1": "squad"}.get(key, key)
    if key not in TASKS:
        raise DataError(
            f"unknown task {name!r}: choose one of {', '.join(TASKS)}{did_you_mean(key, TASKS)} "
            "(list them with 'analora tasks')"
        )
    return TASKS[key]


def label_names(task: str | TaskSpec) -> tuple[str, ...]:
    """One name per output of the task's head: the class names (Hub
    ``ClassLabel`` order), ``("score",)`` for a regression task, and
    ``("start", "end")`` for question answering."""
    spec = get_task(task)
    if spec.head == "question-answering":
        return ("start", "end")
    if spec.label_names is None:
        return ("score",)
    return spec.label_names
