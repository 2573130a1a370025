"""Quantizer: the nn.Module that owns one spec's scale, zero point and statistics.

Where the scale comes from (docs/export.md, "Quantizers"):
- ``learned_scale``: an ``nn.Parameter``, initialised from the spec's statistics on the
  first batch it sees (LSQ);
- ``scale_stats='const'``: a buffer holding the constant;
- a *weight* quantizer (``dynamic=True``) recomputes the scale from the tensor on every
  forward, so it follows training, until ``freeze()`` stores it;
- an *activation* quantizer keeps running min/max buffers, updated while ``calibrating``
  is set or the module is training; the scale is the spec's statistic of that range
  (percentile and MSE keep the largest scale any batch gave).
Statistics are buffers, so DDP broadcasts them with the parameters.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .. import fake_quant as FQ
from ..quant import IntQuant, MiniFloatQuant, BipolarQuant, TernaryQuant

_SPECS = (IntQuant, MiniFloatQuant, BipolarQuant, TernaryQuant)


class Quantizer(nn.Module):
    """Fake-quantizes its input with ``spec``; see the module docstring for the scale."""

    def __init__(self, spec, dynamic: bool = False, scale_shape: tuple = ()):
        super().__init__()
        if not isinstance(spec, _SPECS):
            raise TypeError(f"Quantizer needs a bitsmith.quant spec, got {spec!r}")
        if getattr(spec, "learned_bits", False):
            raise ValueError("learned_bits=True is not supported by bitsmith.nn layers yet; use learned_bits=False")
        if not dynamic and spec.granularity != "per_tensor" and spec.scale_stats != "const" \
                and not spec.learned_scale:
            raise ValueError(f"an activation quantizer collects per-tensor statistics; {spec.granularity} "
                             "needs learned_scale=True (with scale_shape) or a weight quantizer")
        self.spec = spec
        self.dynamic = dynamic
        self.calibrating = False
        self.frozen = False
        zp = getattr(spec, "zero_point", False)
        if spec.learned_scale:
            self.scale = nn.Parameter(torch.ones(scale_shape))
            self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        elif spec.scale_stats == "const":
            c = 1.0 if spec.const_scale is None else float(spec.const_scale)
            self.register_buffer("scale", torch.tensor(c, dtype=torch.float32))
        else:
            self.register_buffer("scale", torch.ones(scale_shape))
        self.register_buffer("zero_point", torch.zeros(scale_shape) if zp else None)
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    # -- statistics ---------------------------------------------------------
    def _observe(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            had = self.has_stats
            self.min_val.copy_(torch.minimum(self.min_val, x.detach().min().float()))
            self.max_val.copy_(torch.maximum(self.max_val, x.detach().max().float()))
            if self.spec.scale_stats == "minmax":
                # max|x| (or min and max) of the whole range seen so far.
                s, z = FQ.compute_scale(torch.stack([self.min_val, self.max_val]), self.spec)
            else:
                s, z = FQ.compute_scale(x, self.spec)
                if had and not bool(s > self.scale):
                    return  # keeps the widest range (and its zero point)
            self.scale.copy_(s)
            if z is not None:
                self.zero_point.copy_(z)

    @property
    def needs_stats(self) -> bool:
        """An activation quantizer whose scale comes from statistics it has not collected yet."""
        spec = self.spec
        return not (self.dynamic or self.frozen or spec.learned_scale or spec.scale_stats == "const"
                    or self.has_stats)

    @property
    def has_stats(self) -> bool:
        return bool(torch.isfinite(self.max_val))

    def _learned_init(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            s, z = FQ.compute_scale(x, self.spec)
            self.scale.copy_(s.reshape(self.scale.shape) if s.numel() == self.scale.numel() else s)
            if z is not None:
                self.zero_point.copy_(z)
            self.initialized.fill_(True)

    def current_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The (scale, zero point) the next forward uses for x, updating statistics as a forward would."""
        spec = self.spec
        if spec.learned_scale:
            if not bool(self.initialized):
                self._learned_init(x)
            return self.scale, self.zero_point
        if spec.scale_stats == "const" or self.frozen:
            return self.scale, self.zero_point
        if self.dynamic:
            return FQ.compute_scale(x, spec)
        if self.calibrating or self.training:
            self._observe(x)
        elif not self.has_stats:
            raise RuntimeError("this activation quantizer has no statistics yet: calibrate it "
                               "(set .calibrating=True and run data through) or train first, "
                               "or use scale_stats='const'")
        return self.scale, self.zero_point

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, zp = self.current_scale(x)
        return FQ.fake_quant(x, self.spec, scale, zp)

    @torch.no_grad()
    def freeze(self, x: Optional[torch.Tensor] = None) -> None:
        """Stops statistics: a dynamic quantizer stores the scale of x (its weight) as a buffer."""
        if self.dynamic and not self.spec.learned_scale and self.spec.scale_stats != "const":
            if x is None:
                raise ValueError("freeze() of a weight quantizer needs the weight")
            s, z = FQ.compute_scale(x, self.spec)
            self.scale = s.clone()
            if z is not None:
                self.zero_point = z.clone()
        elif self.needs_stats:
            raise RuntimeError("freeze() of an activation quantizer without statistics: calibrate it first")
        self.frozen = True
        self.calibrating = False

    def extra_repr(self) -> str:
        return f"{self.spec!r}, dynamic={self.dynamic}"


def make_quantizer(spec, **kw) -> Optional[Quantizer]:
    """None stays None, a Quantizer is used as is (shared), a spec gets a new Quantizer."""
    if spec is None or isinstance(spec, Quantizer):
        return spec
    return Quantizer(spec, **kw)
