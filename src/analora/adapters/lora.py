"""LoRA adapters on analog layers, as peft adapters.

The analog layer keeps its programmed (frozen) weights; each targeted layer
gets a digital low-rank branch ``y = analog(x) + (alpha / r) B A dropout(x)``
(Hu et al., "LoRA", ICLR 2022; on AIMC: Li et al., arXiv 2411.17367, where
the branch runs on the digital cores beside the tile).

peft's hook for layer types it does not know is
``LoraConfig._register_custom_module({AnalogLinear: AnalogLoraLinear})``
(peft >= 0.13; tested in ``tests/adapters``). :class:`AnalogLoraLinear` is
peft's own LoRA ``Linear`` with merging refused: folding ``B A`` into the
analog weights would mean reprogramming the chip, which analora never does.
Adapters therefore save in peft's format and load onto the digital model for
inspection.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora.layer import Linear as PeftLoraLinear
from torch import nn

from analora.analog.convert import analog_layers
from analora.analog.layer import AnalogLinear
from analora.errors import AnaloraError, did_you_mean


class AdapterError(AnaloraError):
    """An adapter cannot be built, merged, saved or loaded as asked."""


class AnalogLoraLinear(PeftLoraLinear):
    """peft's LoRA linear layer around an :class:`AnalogLinear`; never merges."""

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise AdapterError(
            "merging a LoRA adapter into analog weights would reprogram the chip: keep the "
            "adapter digital, or load it onto the digital model with peft to merge there"
        )

    def unmerge(self) -> None:
        raise AdapterError("analog LoRA layers are never merged, so there is nothing to unmerge")


# Module-name patterns of the paper's placement ablation ("all" = every analog
# layer). Each is a regular expression searched in the full module name.
PLACEMENTS: dict[str, tuple[str, ...]] = {
    "qkv": (
        r"\.(query|key|value)$",  # BERT, MobileBERT
        r"\.(q_proj|k_proj|v_proj)$",  # Llama-style decoders
        r"\.attn\.c_attn$",  # GPT-2
    ),
    "ffn": (
        r"\.intermediate\.dense$",  # BERT, MobileBERT
        r"(?<!attention)\.output\.dense$",  # BERT FFN output (not attention.output.dense)
        r"\.ffn\.\d+\.(intermediate|output)\.dense$",  # MobileBERT extra FFNs
        r"\.(gate_proj|up_proj|down_proj)$",  # Llama
        r"\.mlp\.(c_fc|c_proj)$",  # GPT-2
    ),
}


@contextlib.contextmanager
def known_to_peft() -> Iterator[None]:
    """Silence peft's warning about layer types it does not know: AnalogLinear
    is handled by the registered :class:`AnalogLoraLinear`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unsupported layer type")
        yield


def target_layers(model: nn.Module, targets: str | Sequence[str] = "all") -> list[str]:
    """Names of the analog layers a placement (``all``, ``qkv``, ``ffn``) or a
    list of module-name regular expressions selects."""
    names = [n for n, _ in analog_layers(model)]
    if not names:
        raise AdapterError("the model has no analog layers: convert or program it first")
    return select_targets(names, targets)


def select_targets(names: Sequence[str], targets: str | Sequence[str] = "all") -> list[str]:
    """The layer names a placement or a list of name patterns selects."""
    names = list(names)
    if isinstance(targets, str):
        if targets == "all":
            return names
        if targets not in PLACEMENTS:
            choices = ["all", *PLACEMENTS]
            raise AdapterError(
                f"--targets {targets!r} is unknown: use one of {', '.join(choices)} or a list "
                f"of module-name patterns{did_you_mean(targets, choices)}"
            )
        patterns: Sequence[str] = PLACEMENTS[targets]
    else:
        patterns = targets
    chosen = [n for n in names if any(re.search(p, n) for p in patterns)]
    if not chosen:
        raise AdapterError(f"no analog layer matches {targets!r}: check --targets")
    return chosen


def lora_config(
    model: nn.Module,
    r: int = 8,
    alpha: int = 32,
    dropout: float = 0.1,
    targets: str | Sequence[str] = "all",
    head: Sequence[str] = (),
) -> LoraConfig:
    """A peft ``LoraConfig`` for the analog layers of ``model`` (the paper's
    defaults: r 8, alpha 32, dropout 0.1, every analog layer). ``head`` names
    digital modules that train in full beside the adapter (peft
    ``modules_to_save``), e.g. ``["classifier"]``."""
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise AdapterError(f"rank r={r!r} is invalid: give an integer >= 1 (--rank)")
    if not alpha > 0:
        raise AdapterError(f"alpha={alpha!r} is invalid: give a number > 0 (--lora-alpha)")
    if not 0.0 <= dropout < 1.0:
        raise AdapterError(
            f"dropout={dropout!r} is invalid: give a number in [0, 1) (--lora-dropout)"
        )
    analog = {n for n, _ in analog_layers(model)}
    for name in head:
        if any(n == name or n.endswith("." + name) for n in analog):
            raise AdapterError(
                f"head module {name!r} is analog: keep the task head digital "
                f"(convert with exclude=[{name!r}])"
            )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        # Full module names; peft matches a list entry by name or name suffix.
        target_modules=target_layers(model, targets),
        modules_to_save=list(head) or None,
        bias="none",
    )
    config._register_custom_module({AnalogLinear: AnalogLoraLinear})
    return config


def add_lora(model: nn.Module, config: LoraConfig | None = None, **kwargs: Any) -> PeftModel:
    """Wrap an analog model with LoRA adapters (``kwargs`` go to
    :func:`lora_config`). Only the adapters (and the ``head`` modules) train;
    the analog weights stay frozen."""
    config = config if config is not None else lora_config(model, **kwargs)
    with known_to_peft():
        peft_model = get_peft_model(model, config)
    for _, layer in analog_layers(peft_model):
        layer.tile_weight.requires_grad_(False)
        if layer.out_scale is not None:
            layer.out_scale.requires_grad_(False)
    return peft_model


def trainable_parameters(model: nn.Module) -> dict[str, int]:
    """Count of trainable parameters by kind: ``lora``, ``head`` and ``other``
    (``other`` must be 0 for an adapter method)."""
    out = {"lora": 0, "head": 0, "other": 0}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if ".lora_" in name:
            out["lora"] += p.numel()
        elif ".modules_to_save." in name:
            out["head"] += p.numel()
        else:
            out["other"] += p.numel()
    return out
