"""Bridge to IBM aihwkit's inference noise models (optional dependency).

This is the only module of the library that imports aihwkit. Any object of
aihwkit's ``BaseNoiseModel`` family (``PCMLikeNoiseModel``,
``HermesNoiseModel``, ``ReRamWan2022NoiseModel``, ``ReRamCMONoiseModel``, ...)
can stand in for the built-in device model: analora calls its
``apply_programming_noise`` once per tile at programming and its
``apply_drift_noise`` at each read, seeding torch's global RNG from analora's
named seeds (inside ``torch.random.fork_rng``, so the caller's RNG state is
untouched). aihwkit converts each tile to conductances on its own, normalising
by the tile's max |w|, exactly as its own tiles do.

Install it without its dependencies (a plain install pulls PyPI's torchvision,
which breaks transformers beside a CPU torch)::

    pip install --no-deps aihwkit==1.1.0   # beside numpy, scipy and tqdm
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from analora.errors import ConfigError, did_you_mean
from analora.hardware.devices import Block


def _require_aihwkit() -> Any:
    try:
        import aihwkit.inference as inference
    except ImportError as exc:
        raise ConfigError(
            "device.model",
            "aihwkit:...",
            "only with aihwkit installed: pip install --no-deps aihwkit==1.1.0 "
            f"(beside numpy, scipy, tqdm) [{exc.__class__.__name__}: {exc}]",
        ) from None
    return inference


def aihwkit_noise_model_names() -> list[str]:
    """Names of the noise-model classes aihwkit exports."""
    inference = _require_aihwkit()
    return sorted(
        n
        for n in dir(inference)
        if n.endswith("NoiseModel")
        and isinstance(getattr(inference, n), type)
        and issubclass(getattr(inference, n), inference.BaseNoiseModel)
        and n != "BaseNoiseModel"
    )


def _seed_from(generator: torch.Generator) -> int:
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


@dataclass
class AihwkitDevice:
    """A device model backed by an aihwkit noise-model object."""

    noise_model: Any
    name: str = "aihwkit"

    def __post_init__(self) -> None:
        inference = _require_aihwkit()
        if not isinstance(self.noise_model, inference.BaseNoiseModel):
            raise ConfigError(
                "device.model", type(self.noise_model).__name__, "an aihwkit BaseNoiseModel"
            )
        self.name = f"aihwkit:{type(self.noise_model).__name__}"

    @classmethod
    def from_name(cls, class_name: str, **kwargs: Any) -> AihwkitDevice:
        """Instantiate ``aihwkit.inference.<class_name>`` with its defaults
        (``g_max`` passed on where the class takes it)."""
        inference = _require_aihwkit()
        names = aihwkit_noise_model_names()
        if class_name not in names:
            raise ConfigError(
                "device.model",
                f"aihwkit:{class_name}",
                f"aihwkit:<one of {', '.join(names)}>{did_you_mean(class_name, names)}",
                "--set device.model=...",
            )
        klass = getattr(inference, class_name)
        g_max = kwargs.get("g_max_uS")
        try:
            model = klass(g_max=g_max) if g_max is not None else klass()
        except TypeError:
            model = klass()
        return cls(model)

    def program(
        self, w: Tensor, w_max: Tensor, generator: torch.Generator, blocks: list[Block]
    ) -> dict[str, Tensor]:
        w_prog = torch.zeros_like(w)
        drift: list[Tensor] | None = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_from(generator))
            for i, o0, o1, c in blocks:
                noisy, params = self.noise_model.apply_programming_noise(
                    w[i, o0:o1, :c].detach().float()
                )
                w_prog[i, o0:o1, :c] = noisy
                if params and all(p is not None for p in params):
                    if drift is None:
                        drift = [torch.zeros_like(w) for _ in params]
                    for store, p in zip(drift, params, strict=True):
                        store[i, o0:o1, :c] = p
        state = {"w_prog": w_prog}
        if drift is not None:
            state["drift_params"] = torch.stack(drift)
        return state

    def programmed_weights(self, state: dict[str, Tensor], blocks: list[Block]) -> Tensor:
        return state["w_prog"]

    def read(
        self, state: dict[str, Tensor], t_s: float, generator: torch.Generator, blocks: list[Block]
    ) -> Tensor:
        w_prog = state["w_prog"]
        drift = state.get("drift_params")
        out = torch.zeros_like(w_prog)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_from(generator))
            for i, o0, o1, c in blocks:
                params: list[Tensor | None]
                if drift is None:
                    params = [None, None]
                else:
                    params = [d[i, o0:o1, :c] for d in drift]
                out[i, o0:o1, :c] = self.noise_model.apply_drift_noise(
                    w_prog[i, o0:o1, :c], params, float(t_s)
                )
        return out
