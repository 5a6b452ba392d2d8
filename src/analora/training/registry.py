"""The method registry: one entry per way of obtaining a deployment.

An entry says what the method trains, whether it needs a hardware config
(and so deploys on a chip), which model it starts from, whether it can take
a programmed chip or warm-start from a saved adapter, and which function
runs it. The CLI's choices, the run checks, the sweep's loading and the bank's
admission all read these entries; adding a method means adding one entry
(:func:`register_method`).

This module imports neither torch nor transformers: the runner is named as
``"module:function"`` and imported when the method runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from analora.errors import AnaloraError, did_you_mean

Trains = Literal["adapter", "weights", "nothing"]
Base = Literal["pretrained", "digital"]


@dataclass(frozen=True)
class Method:
    """One method: its properties and the function that runs it."""

    name: str
    summary: str
    trains: Trains
    """``adapter`` (LoRA matrices + task head), ``weights`` (every weight) or ``nothing``."""
    analog: bool
    """Needs a hardware config; deployed (and evaluated) on chips."""
    base: Base
    """``pretrained``: starts from a pretrained model; ``digital``: from the
    output of ``--method digital`` (the paper's full AHWA and direct deployment)."""
    runner: str
    """``"module:function"`` taking a :class:`~analora.training.methods.MethodJob`."""
    default_lr: float = 2e-4
    takes_chip: bool = False
    """Can train against a saved chip (``--chip``) and warm-start (``--init-adapter``)."""
    chip_bound: bool = False
    """The trained adapter is bound to the one chip it was calibrated on."""

    @property
    def deployment_kind(self) -> str:
        """What ``deployment.json`` records: ``digital`` (no chip), ``model``
        (a model to program) or ``adapter`` (a chip recipe plus an adapter)."""
        if not self.analog:
            return "digital"
        return "adapter" if self.trains == "adapter" else "model"

    @property
    def owns_model(self) -> bool:
        """The run saves a whole model (else an adapter over the base model)."""
        return self.trains != "adapter"

    def run(self, job: Any) -> Any:
        module, _, function = self.runner.partition(":")
        fn: Callable[[Any], Any] = getattr(importlib.import_module(module), function)
        return fn(job)


_REGISTRY: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add a method (refused when the name is taken)."""
    if method.name in _REGISTRY:
        raise AnaloraError(f"a method named {method.name!r} is registered already")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The method of this name; an unknown name fails with a did-you-mean."""
    try:
        return _REGISTRY[name]
    except KeyError:
        names = method_names()
        raise AnaloraError(
            f"--method {name!r} is not a method: use one of {', '.join(names)}"
            f"{did_you_mean(name, names)}"
        ) from None


def method_names(**where: Any) -> tuple[str, ...]:
    """Registered names, in registration order, whose fields equal ``where``
    (e.g. ``method_names(trains="adapter", analog=True)``)."""
    return tuple(
        m.name
        for m in _REGISTRY.values()
        if all(getattr(m, key) == value for key, value in where.items())
    )


_ADAPTERS = "analora.training.methods:train_adapter"
_FULL = "analora.training.methods:train_full"

register_method(
    Method(
        "digital",
        "fine-tune every weight in floating point, no hardware",
        trains="weights",
        analog=False,
        base="pretrained",
        runner=_FULL,
        default_lr=5e-5,  # the usual BERT fine-tuning range, 2e-5 ... 5e-5
    )
)
register_method(
    Method(
        "digital-lora",
        "LoRA and the task head in floating point, no hardware",
        trains="adapter",
        analog=False,
        base="pretrained",
        runner=_ADAPTERS,
    )
)
register_method(
    Method(
        "direct",
        "program the digitally fine-tuned model, no adaptation",
        trains="nothing",
        analog=True,
        base="digital",
        runner="analora.training.methods:deploy_direct",
        default_lr=0.0,
    )
)
register_method(
    Method(
        "ahwa",
        "full hardware-aware training of every weight from the digital model, then program",
        trains="weights",
        analog=True,
        base="digital",
        runner=_FULL,
        default_lr=5e-5,  # Li et al., arXiv 2411.17367: 5e-5 from the fine-tuned model
    )
)
register_method(
    Method(
        "ahwa-lora",
        "program the pretrained model once; train LoRA and head under the hardware noise",
        trains="adapter",
        analog=True,
        base="pretrained",
        runner=_ADAPTERS,
        takes_chip=True,  # Li et al., arXiv 2411.17367: lr 2e-4
    )
)
register_method(
    Method(
        "chip-lora",
        "LoRA and head trained against one programmed chip (bound to it)",
        trains="adapter",
        analog=True,
        base="pretrained",
        runner=_ADAPTERS,
        takes_chip=True,
        chip_bound=True,
    )
)
