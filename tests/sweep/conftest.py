"""Synthetic results (two chips, two ages) for the results and report tests."""

import pytest

from analora.sweep.results import FORMAT, aggregate


def _results(method: str = "direct", values=(80.0, 78.0, 76.0, 75.0)) -> dict:  # type: ignore[no-untyped-def]
    times = [0.0, 31536000.0]
    cells = [
        {"chip_seed": s, "t_s": t, "metrics": {"accuracy": v}}
        for (s, t), v in zip(
            [(1, 0.0), (1, 31536000.0), (2, 0.0), (2, 31536000.0)], values, strict=True
        )
    ]
    return {
        "format": FORMAT,
        "method": method,
        "task": "sst2",
        "eval_split": "validation",
        "metrics": ["accuracy"],
        "primary_metric": "accuracy",
        "higher_is_better": {"accuracy": True},
        "times_s": times,
        "chip_seeds": [1, 2],
        "digital": {"accuracy": 85.0},
        "cells": cells,
        "aggregates": aggregate(cells, times),
    }


@pytest.fixture
def make_results():  # type: ignore[no-untyped-def]
    return _results
