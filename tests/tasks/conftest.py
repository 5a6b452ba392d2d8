"""Fixtures for the tasks layer: the vendored data folder, MiniLM's tokenizer, GLUE writers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """``$ANALORA_DATA_DIR`` if set, else ``../shared/data`` beside the repository."""
    env = os.environ.get("ANALORA_DATA_DIR")
    path = Path(env) if env else REPO / ".." / "shared" / "data"
    return path.resolve() if (path / "glue").is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("vendored data not found: set ANALORA_DATA_DIR or place it in ../shared/data")
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """No test reads the user's data or cache folders by accident."""
    monkeypatch.delenv("ANALORA_DATA_DIR", raising=False)
    monkeypatch.setenv("ANALORA_CACHE_DIR", str(tmp_path / "token-cache"))


@pytest.fixture(scope="session")
def tokenizer(minilm_dir):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


WriteTsv = Callable[[Path, list[str], list[list[str]]], Path]


@pytest.fixture
def write_tsv() -> WriteTsv:
    """Write an unquoted GLUE-style TSV (header first unless it is empty)."""

    def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = (["\t".join(header)] if header else []) + ["\t".join(r) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write
