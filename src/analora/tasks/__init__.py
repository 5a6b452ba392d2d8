"""Tasks and data: GLUE and SQuAD v1.1 from local folders or the Hugging Face Hub.

- :mod:`~analora.tasks.registry`: the tasks, their columns, labels, heads and metrics;
- :mod:`~analora.tasks.sources`: where data comes from (``--data-dir``,
  ``ANALORA_DATA_DIR``, the Hub), with :mod:`~analora.tasks.glue`,
  :mod:`~analora.tasks.squad` and :mod:`~analora.tasks.hub` as readers;
- :mod:`~analora.tasks.preprocess` and :mod:`~analora.tasks.qa`: tokenisation,
  SQuAD windows and answer post-processing; :mod:`~analora.tasks.cache` keeps
  tokenised splits on disk;
- :mod:`~analora.tasks.subsets`: seeded, stratified subsets;
- :mod:`~analora.tasks.metrics`: task metrics and the GLUE score.

This package knows nothing of the analog engine (no ``analora.analog`` or
``analora.hardware`` imports).

Names below are imported on first use, so ``analora --help`` does not pay for
importing ``datasets``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "GLUE_ENTRIES": "metrics",
    "GlueScore": "metrics",
    "MetricError": "metrics",
    "compute_metrics": "metrics",
    "glue_entry": "metrics",
    "glue_score": "metrics",
    "squad_metrics": "metrics",
    "Tokenized": "preprocess",
    "tokenize_split": "preprocess",
    "postprocess_qa": "qa",
    "GLUE_TASKS": "registry",
    "TASKS": "registry",
    "TaskSpec": "registry",
    "get_task": "registry",
    "task_names": "registry",
    "TaskData": "sources",
    "load_task": "sources",
    "limit_splits": "subsets",
    "stratified_subset": "subsets",
}

__all__ = [
    "GLUE_ENTRIES",
    "GLUE_TASKS",
    "TASKS",
    "GlueScore",
    "MetricError",
    "TaskData",
    "TaskSpec",
    "Tokenized",
    "compute_metrics",
    "get_task",
    "glue_entry",
    "glue_score",
    "limit_splits",
    "load_task",
    "postprocess_qa",
    "squad_metrics",
    "stratified_subset",
    "task_names",
    "tokenize_split",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'analora.tasks' has no attribute {name!r}")
    module = importlib.import_module(f"analora.tasks.{_EXPORTS[name]}")
    attr = "postprocess" if name == "postprocess_qa" else name
    return getattr(module, attr)


if TYPE_CHECKING:
    from analora.tasks.metrics import (
        GLUE_ENTRIES,
        GlueScore,
        MetricError,
        compute_metrics,
        glue_entry,
        glue_score,
        squad_metrics,
    )
    from analora.tasks.preprocess import Tokenized, tokenize_split
    from analora.tasks.qa import postprocess as postprocess_qa
    from analora.tasks.registry import GLUE_TASKS, TASKS, TaskSpec, get_task, task_names
    from analora.tasks.sources import TaskData, load_task
    from analora.tasks.subsets import limit_splits, stratified_subset
