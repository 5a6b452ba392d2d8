"""Convert a model's static linear layers into analog layers.

Every ``nn.Linear`` (and transformers' GPT-2 style ``Conv1D``) is mapped by
default; ``include`` and ``exclude`` take name patterns (shell globs such as
``*.attention.*``, or a name's last part such as ``classifier``). Embeddings,
norms, biases and the attention products stay digital.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from analora.analog.layer import AnalogLinear
from analora.errors import AnaloraError
from analora.hardware.config import HardwareConfig

INFO_ATTR = "analora_info"


@dataclass(frozen=True)
class LayerReport:
    name: str
    in_features: int
    out_features: int
    tiles: int
    analog_params: int


@dataclass
class ConversionReport:
    """What went onto tiles and what stayed digital."""

    hardware: str
    model_fingerprint: str
    layers: list[LayerReport] = field(default_factory=list)
    digital_params: int = 0

    @property
    def tiles(self) -> int:
        return sum(layer.tiles for layer in self.layers)

    @property
    def analog_params(self) -> int:
        return sum(layer.analog_params for layer in self.layers)

    @property
    def analog_fraction(self) -> float:
        total = self.analog_params + self.digital_params
        return self.analog_params / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hardware": self.hardware,
            "model_fingerprint": self.model_fingerprint,
            "layers": [asdict(layer) for layer in self.layers],
            "tiles": self.tiles,
            "analog_params": self.analog_params,
            "digital_params": self.digital_params,
            "analog_fraction": self.analog_fraction,
        }

    def summary(self) -> str:
        return (
            f"{len(self.layers)} analog layers on {self.tiles} tiles; "
            f"{self.analog_params:,} analog and {self.digital_params:,} digital parameters "
            f"({100 * self.analog_fraction:.1f}% analog); hardware {self.hardware}"
        )


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, p) or name == p or name.endswith("." + p) for p in patterns
    )


def _is_conv1d(module: nn.Module) -> bool:
    # transformers.pytorch_utils.Conv1D (GPT-2): weight is [in, out].
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf") and hasattr(module, "weight")


def mappable_layers(
    model: nn.Module, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs :func:`convert` would map, in model order."""
    out = []
    for name, module in model.named_modules():
        if not (isinstance(module, nn.Linear) or _is_conv1d(module)):
            continue
        if include and not _matches(name, include):
            continue
        if exclude and _matches(name, exclude):
            continue
        out.append((name, module))
    return out


def _digital_weight(module: nn.Module) -> torch.Tensor:
    """A linear (or GPT-2 Conv1D) layer's weight as ``[out, in]``, detached."""
    w = module.weight
    assert isinstance(w, torch.Tensor)
    return w.detach().T if _is_conv1d(module) else w.detach()


def layers_fingerprint(layers: Sequence[tuple[str, nn.Module]]) -> str:
    """The model fingerprint of digital linear layers (what :func:`convert`
    records for the layers it maps): :func:`weights_fingerprint` of their
    weights as ``[out, in]``."""
    return weights_fingerprint([(n, _digital_weight(m)) for n, m in layers])


def weights_fingerprint(named: Sequence[tuple[str, torch.Tensor]]) -> str:
    """sha256 over (name, shape, float32 bytes) of the given weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(named, key=lambda item: item[0]):
        t = tensor.detach().float().contiguous().cpu()
        h.update(f"{name}:{tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _set_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def canonical_name(name: str) -> str:
    """A layer's name as in the unwrapped model: adapter wrappers (peft's
    ``base_model.model.`` prefix and ``.base_layer`` parts) removed, so a chip
    still finds its layers after LoRA is added."""
    name = ".".join(p for p in name.split(".") if p != "base_layer")
    prefix = "base_model.model."
    return name[len(prefix) :] if name.startswith(prefix) else name


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogLinear]]:
    """The analog layers of a converted model (canonical names), in model order."""
    return [(canonical_name(n), m) for n, m in model.named_modules() if isinstance(m, AnalogLinear)]


def post_update_step(model: nn.Module) -> int:
    """Clip and re-map every analog layer whose analog weights train; call it
    after each optimiser step of full hardware-aware training. Frozen analog
    layers are never touched. Returns the number of layers updated."""
    updated = 0
    for _, layer in analog_layers(model):
        if layer.tile_weight.requires_grad:
            layer.post_update_step()
            updated += 1
    return updated


def convert(
    model: nn.Module,
    hardware: HardwareConfig,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> ConversionReport:
    """Replace the model's linear layers by :class:`AnalogLinear`, in place.

    Returns the conversion report; it is also kept on the model as
    ``model.analora_info``. The model fingerprint hashes the digital weights
    of the mapped layers (before clipping), so a chip can later check that it
    belongs to this model.
    """
    if getattr(model, INFO_ATTR, None) is not None:
        raise AnaloraError("model is already converted; convert a fresh copy of the model")
    targets = mappable_layers(model, include, exclude)
    if not targets:
        raise AnaloraError(
            "the model has no linear layers to map (check --include/--exclude patterns)"
        )
    fingerprint = layers_fingerprint(targets)
    report = ConversionReport(hardware=hardware.name, model_fingerprint=fingerprint)
    for name, module in targets:
        bias = getattr(module, "bias", None)
        weight = _digital_weight(module)
        layer = AnalogLinear.from_digital(weight, bias, hardware).to(weight.device)
        layer.train(module.training)
        _set_submodule(model, name, layer)
        report.layers.append(
            LayerReport(
                name=name,
                in_features=layer.in_features,
                out_features=layer.out_features,
                tiles=layer.n_tiles,
                analog_params=layer.in_features * layer.out_features,
            )
        )
    analog_ids = {id(layer.tile_weight) for _, layer in analog_layers(model)}
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in analog_ids or id(p) in seen:
            continue
        seen.add(id(p))
        report.digital_params += p.numel()
    # Learned out-scales are digital, but they belong to the analog layers'
    # periphery: count them with the digital parameters (already done above).
    setattr(model, INFO_ATTR, report)
    return report


def refresh_fingerprint(model: nn.Module) -> str:
    """After the analog weights themselves were trained (full hardware-aware
    training), the model to program is no longer the digital one it was
    converted from: re-stamp the report with a fingerprint of the trained
    target state (every analog layer's digital-equivalent weight, learned
    out-scales included) and return it."""
    rep = conversion_report(model)
    if rep is None:
        raise AnaloraError("the model is not converted: nothing to fingerprint")
    rep.model_fingerprint = weights_fingerprint(
        [(n, m.digital_weight()) for n, m in analog_layers(model)]
    )
    return rep.model_fingerprint


def conversion_report(model: nn.Module) -> ConversionReport | None:
    """The report of a converted model, or None.

    A model built directly from :class:`AnalogLinear` layers (not through
    :func:`convert`) gets its report here, with the fingerprint taken over
    the layers' digital-equivalent weights.
    """
    rep = getattr(model, INFO_ATTR, None)
    layers = analog_layers(model)
    if rep is not None or not layers:
        return rep
    fingerprint = weights_fingerprint([(n, m.digital_weight()) for n, m in layers])
    rep = ConversionReport(hardware=layers[0][1].hardware.name, model_fingerprint=fingerprint)
    for name, layer in layers:
        rep.layers.append(
            LayerReport(
                name,
                layer.in_features,
                layer.out_features,
                layer.n_tiles,
                layer.in_features * layer.out_features,
            )
        )
    analog_ids = {id(m.tile_weight) for _, m in layers}
    rep.digital_params = sum(p.numel() for p in model.parameters() if id(p) not in analog_ids)
    setattr(model, INFO_ATTR, rep)
    return rep


def digital_twin(model: nn.Module) -> nn.Module:
    """A copy of a converted model with every analog layer replaced by a plain
    ``nn.Linear`` holding its digital-equivalent target weight (mapping,
    clipping and learned out-scale included): the deployed weights evaluated
    in floating point, with no noise, converters or drift. Adapter wrappers
    around the analog layers are kept."""
    import copy

    twin = copy.deepcopy(model)
    for name, module in list(twin.named_modules()):
        if not isinstance(module, AnalogLinear):
            continue
        linear = nn.Linear(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            device=module.tile_weight.device,
        )
        with torch.no_grad():
            linear.weight.copy_(module.digital_weight())
            if module.bias is not None:
                linear.bias.copy_(module.bias)
        linear.requires_grad_(False)
        _set_submodule(twin, name, linear)
    return twin
