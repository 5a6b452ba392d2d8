"""Is the Hugging Face Hub reachable? A fast answer before slow retries.

Without a network, ``huggingface_hub`` retries each request with back-off for
tens of seconds before failing. analora asks once, with one short TCP connect
to the Hub endpoint, and when the answer is no it loads in offline mode: files
already in the local Hugging Face cache still load, anything else fails at once
with a message naming the local alternative.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

_TRUE = {"1", "true", "yes", "on"}


def offline_requested() -> bool:
    """Whether the user asked for offline mode (``HF_HUB_OFFLINE`` and friends)."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def _reachable(endpoint: str, timeout_s: float) -> bool:
    url = urlparse(endpoint)
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when offline mode is requested or the endpoint cannot be reached
    (checked once per process)."""
    if offline_requested():
        return False
    return _reachable(os.environ.get("HF_ENDPOINT", "https://huggingface.co"), timeout_s)


@contextlib.contextmanager
def offline_mode() -> Iterator[None]:
    """Run Hub-backed loaders in offline mode (cache only) for the duration."""
    patched: list[tuple[object, object]] = []
    for module_name in ("huggingface_hub.constants", "datasets.config"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, "HF_HUB_OFFLINE"):
            patched.append((module, getattr(module, "HF_HUB_OFFLINE")))  # noqa: B009
            setattr(module, "HF_HUB_OFFLINE", True)  # noqa: B010
    try:
        yield
    finally:
        for patched_module, value in patched:
            setattr(patched_module, "HF_HUB_OFFLINE", value)  # noqa: B010
