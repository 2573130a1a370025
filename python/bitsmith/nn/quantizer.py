"""Quantizer: the nn.Module that owns one spec's scale, zero point and statistics.

Where the scale comes from (docs/export.md, "Quantizers"):
- ``learned_scale``: an ``nn.Parameter``, initialised from the spec's statistics on the
  first batch it sees (LSQ); with ``scale='po2'`` the parameter is ``log2_scale`` and the
  forward uses ``2 ** round_ste(log2_scale)`` (Brevitas' PowerOfTwo restriction);
- ``scale_stats='const'``: a buffer holding the constant;
- a *weight* quantizer (``dynamic=True``) recomputes the scale from the tensor on every
  forward, so it follows training, until ``freeze()`` stores it;
- an *activation* quantizer keeps running min/max buffers, updated while ``calibrating``
  is set or the module is training; the scale is the spec's statistic of that range
  (percentile and MSE keep the largest scale any batch gave).
Under DDP the statistics are reduced across ranks at each observation (one collective per
batch: every rank must calibrate on the same number of batches), and a lazily initialised
learned scale takes rank 0's value, so all ranks keep identical scales.

``IntQuant(learned_bits=True)`` adds ``bits``, an ``nn.Parameter`` starting at ``spec.bits``
that the forward rounds and clamps to 2..16 (``bitsmith::int_quant_learned_bits``); scales
from statistics use the current bit width. ``freeze()`` stores the current integer bit width
in the spec (and a learned po2 scale as a ``scale`` buffer), so export sees fixed values.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .. import fake_quant as FQ
from ..quant import IntQuant, MiniFloatQuant, BipolarQuant, TernaryQuant
from .learned import po2_scale

_SPECS = (IntQuant, MiniFloatQuant, BipolarQuant, TernaryQuant)


class Quantizer(nn.Module):
    """Fake-quantizes its input with ``spec``; see the module docstring for the scale."""

    def __init__(self, spec, dynamic: bool = False, scale_shape: tuple = ()):
        super().__init__()
        if not isinstance(spec, _SPECS):
            raise TypeError(f"Quantizer needs a bitsmith.quant spec, got {spec!r}")
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
            if spec.scale == "po2":
                self.log2_scale = nn.Parameter(torch.zeros(scale_shape))
            else:
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
        if getattr(spec, "learned_bits", False):
            self.bits = nn.Parameter(torch.tensor(float(spec.bits)))
        self._spec_at_bits: dict = {}

    # -- statistics ---------------------------------------------------------
    def _observe(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            had = self.has_stats
            # Under DDP every rank sees its own shard of the batch; reducing the batch's
            # range across ranks keeps the statistics (and so the scales) identical.
            mm = _all_reduce_max(torch.stack([-x.detach().min().float(), x.detach().max().float()]))
            self.min_val.copy_(torch.minimum(self.min_val, -mm[0]))
            self.max_val.copy_(torch.maximum(self.max_val, mm[1]))
            if self.spec.scale_stats == "minmax":
                # max|x| (or min and max) of the whole range seen so far.
                s, z = FQ.compute_scale(torch.stack([self.min_val, self.max_val]), self.stats_spec)
            else:
                s, z = FQ.compute_scale(x, self.stats_spec)
                s, z = _widest_across_ranks(s, z)
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

    @property
    def learns_bits(self) -> bool:
        """The bit width is a trained parameter (not yet frozen into the spec)."""
        return getattr(self.spec, "learned_bits", False)

    @property
    def current_bits(self) -> int:
        """The integer bit width the next forward uses."""
        return FQ._learned_bits(self.bits) if self.learns_bits else self.spec.bits

    @property
    def stats_spec(self):
        """The spec at the current bit width: statistics scale to the levels actually used."""
        if not self.learns_bits:
            return self.spec
        b = self.current_bits
        if b not in self._spec_at_bits:
            self._spec_at_bits[b] = self.spec.replace(bits=b, learned_bits=False)
        return self._spec_at_bits[b]

    def _learned_param(self) -> nn.Parameter:
        return self.log2_scale if "log2_scale" in self._parameters else self.scale

    def learned_scale_value(self) -> torch.Tensor:
        """The learned scale the forward uses (2 ** round_ste(log2_scale) for po2)."""
        if "log2_scale" in self._parameters:
            return po2_scale(self.log2_scale)
        return self.scale

    def _learned_init(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            s, z = FQ.compute_scale(x, self.stats_spec)
            p = self._learned_param()
            if "log2_scale" in self._parameters:
                s = torch.log2(s)  # a power of two already: compute_scale rounds po2 scales up
            p.copy_(s.reshape(p.shape) if s.numel() == p.numel() else s)
            if z is not None:
                self.zero_point.copy_(z)
            # DDP broadcast parameters when it wrapped the model, before this lazy
            # initialisation: take rank 0's start so every rank trains the same scale.
            if _distributed():
                torch.distributed.broadcast(p.data, 0)
                if self.zero_point is not None:
                    torch.distributed.broadcast(self.zero_point, 0)
            self.initialized.fill_(True)

    def current_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The (scale, zero point) the next forward uses for x, updating statistics as a forward would."""
        spec = self.spec
        if self.learns_bits:
            self._check_bits_reach_the_op()
        if spec.learned_scale:
            if not bool(self.initialized):
                self._learned_init(x)
            return self.learned_scale_value(), self.zero_point
        if spec.scale_stats == "const" or self.frozen:
            return self.scale, self.zero_point
        if self.dynamic:
            return FQ.compute_scale(x, self.stats_spec)
        if self.calibrating or self.training:
            self._observe(x)
        elif not self.has_stats:
            raise RuntimeError("this activation quantizer has no statistics yet: calibrate it "
                               "(set .calibrating=True and run data through) or train first, "
                               "or use scale_stats='const'")
        return self.scale, self.zero_point

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, zp = self.current_scale(x)
        return self.quantize(x, scale, zp)

    def quantize(self, x: torch.Tensor, scale: torch.Tensor, zero_point: Optional[torch.Tensor] = None):
        """fake_quant of x with a scale from current_scale, and the learned bit width if there is one.

        Layers that split current_scale from the op must call this, not FQ.fake_quant with
        ``self.spec``, or a learned bit width is ignored.
        """
        self._scale_pending = False
        if self.learns_bits and torch.jit.is_tracing():
            # A TorchScript/ONNX trace records the bit width in use as a constant, so an
            # exported graph holds a plain Quant with an integer bit width initializer.
            return FQ.fake_quant(x, self.stats_spec, scale, zero_point)
        return FQ.fake_quant(x, self.spec, scale, zero_point, self.bits if self.learns_bits else None)

    def _check_bits_reach_the_op(self) -> None:
        # A layer that takes current_scale and then calls FQ.fake_quant with self.spec itself
        # would quantize at spec.bits and never train the bit width: refuse it loudly (on its
        # second forward, when the first scale was never followed by quantize()).
        if getattr(self, "_scale_pending", False):
            raise RuntimeError("a learned bit width (IntQuant(learned_bits=True)) needs the layer to quantize "
                               "through Quantizer.quantize(x, scale, zero_point) after current_scale; this "
                               "layer calls the fake-quant op itself")
        self._scale_pending = True

    @torch.no_grad()
    def freeze(self, x: Optional[torch.Tensor] = None) -> None:
        """Stops statistics: a dynamic quantizer stores the scale of x (its weight) as a buffer.

        A learned bit width becomes the spec's fixed integer (the ``bits`` parameter a buffer
        holding it), an initialised learned po2 scale a ``scale`` buffer, so what export
        traces is the plain int_quant op with constants.
        """
        if self.learns_bits:
            b = self.current_bits
            del self.bits
            self.register_buffer("bits", torch.tensor(float(b)))
            self.spec = self.spec.replace(bits=b, learned_bits=False)
            self._spec_at_bits = {}
        if "log2_scale" in self._parameters and bool(self.initialized):
            s = po2_scale(self.log2_scale).detach().clone()
            del self.log2_scale
            self.register_buffer("scale", s)
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


def _distributed() -> bool:
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return t


def _widest_across_ranks(s: torch.Tensor, z: Optional[torch.Tensor]):
    """The (scale, zero point) of the rank whose batch gave the widest scale."""
    if not _distributed():
        return s, z
    world = torch.distributed.get_world_size()
    pair = torch.stack([s.reshape(()), torch.zeros(()) if z is None else z.reshape(()).float()])
    pairs = [torch.empty_like(pair) for _ in range(world)]
    torch.distributed.all_gather(pairs, pair)
    best = max(pairs, key=lambda p: float(p[0]))
    return best[0].reshape(s.shape), None if z is None else best[1].reshape(z.shape).to(z.dtype)


def make_quantizer(spec, **kw) -> Optional[Quantizer]:
    """None stays None, a Quantizer is used as is (shared), a spec gets a new Quantizer."""
    if spec is None or isinstance(spec, Quantizer):
        return spec
    return Quantizer(spec, **kw)
