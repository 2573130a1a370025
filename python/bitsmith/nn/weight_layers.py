"""Quantized Linear and convolution layers: weight, optional input/output and int32 bias quantizers.

``bias_quant="int32"`` quantizes the bias to signed 32-bit levels at scale s_w * s_x
(s_x the input quantizer's scale, s_w the weight's, per output channel), so the whole
layer is an integer dot product plus an integer bias; it needs an input quantizer
without a zero point.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .. import fake_quant as FQ
from ..quant import IntQuant
from .quantizer import Quantizer, make_quantizer

_BIAS_BITS = 32


class _QuantWeightMixin:
    """Shared by every layer with a weight: builds the quantizers and the quantized (w, b)."""

    def _setup_quant(self, weight_quant, input_quant, output_quant, bias_quant) -> None:
        if weight_quant is None:
            weight_quant = IntQuant(bits=8)
        self.weight_quant = make_quantizer(weight_quant, dynamic=True, scale_shape=self._scale_shape(weight_quant))
        self.input_quant = make_quantizer(input_quant)
        self.output_quant = make_quantizer(output_quant)
        if bias_quant not in (None, "int32"):
            raise ValueError(f"bias_quant={bias_quant!r}; use None (float bias) or 'int32'")
        if bias_quant and self.input_quant is None:
            raise ValueError("bias_quant='int32' needs input_quant: the bias scale is s_w * s_x")
        if bias_quant and getattr(self.input_quant.spec, "zero_point", False):
            raise ValueError("bias_quant='int32' needs an input quantizer without a zero point")
        if bias_quant and self.weight_quant.spec.granularity == "per_group":
            raise ValueError("bias_quant='int32' needs a per-tensor or per-channel weight quantizer")
        self.bias_quant = bias_quant

    def _scale_shape(self, spec) -> tuple:
        if getattr(spec, "granularity", "per_tensor") != "per_channel":
            return ()
        axis = spec.channel_axis % self.weight.dim()
        return tuple(n if d == axis else 1 for d, n in enumerate(self.weight.shape))

    def _out_channel_axis(self) -> int:
        return 0

    def quant_params(self, x_scale: Optional[torch.Tensor]):
        """(quantized weight, quantized or float bias)."""
        ws, wz = self.weight_quant.current_scale(self.weight)
        w = self.weight_quant.quantize(self.weight, ws, wz)
        b = self.bias
        if b is not None and self.bias_quant:
            if ws.numel() > 1 and ws.numel() != b.numel():
                raise ValueError("int32 bias needs the weight scale per output channel "
                                 f"(got {ws.numel()} scales for {b.numel()} outputs)")
            bs = ws.reshape(-1) * x_scale.reshape(())
            zero = torch.zeros((), dtype=torch.float32, device=b.device)
            b = FQ.int_quant(b, bs, zero, _BIAS_BITS, True, False, "ROUND")
        return w, b

    def _quant_forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = None
        if self.input_quant is not None:
            xs, xz = self.input_quant.current_scale(x)
            x = self.input_quant.quantize(x, xs, xz)
        w, b = self.quant_params(xs)
        y = self._raw(x, w, b)
        return y if self.output_quant is None else self.output_quant(y)

    def freeze(self) -> None:
        self.weight_quant.freeze(self.weight.detach())

    @classmethod
    def from_float(cls, module: nn.Module, weight_quant=None, input_quant=None, output_quant=None,
                   bias_quant=None):
        """A quantized copy of a float layer (same weights)."""
        q = cls._from_float_ctor(module, weight_quant, input_quant, output_quant, bias_quant)
        with torch.no_grad():
            q.weight.copy_(module.weight)
            if module.bias is not None:
                q.bias.copy_(module.bias)
        return q


class QuantLinear(_QuantWeightMixin, nn.Linear):
    def __init__(self, in_features, out_features, bias=True, weight_quant=None, input_quant=None,
                 output_quant=None, bias_quant=None):
        super().__init__(in_features, out_features, bias)
        self._setup_quant(weight_quant, input_quant, output_quant, bias_quant)

    def _raw(self, x, w, b):
        return F.linear(x, w, b)

    def forward(self, x):
        return self._quant_forward(x)

    @classmethod
    def _from_float_ctor(cls, m, *q):
        return cls(m.in_features, m.out_features, m.bias is not None, *q)


def _conv_kwargs(m):
    return dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups, bias=m.bias is not None)


class QuantConv1d(_QuantWeightMixin, nn.Conv1d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, weight_quant=None, input_quant=None, output_quant=None, bias_quant=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self._setup_quant(weight_quant, input_quant, output_quant, bias_quant)

    def _raw(self, x, w, b):
        return self._conv_forward(x, w, b)

    def forward(self, x):
        return self._quant_forward(x)

    @classmethod
    def _from_float_ctor(cls, m, *q):
        return cls(m.in_channels, m.out_channels, m.kernel_size, **_conv_kwargs(m), **_qkw(q))


class QuantConv2d(_QuantWeightMixin, nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, weight_quant=None, input_quant=None, output_quant=None, bias_quant=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self._setup_quant(weight_quant, input_quant, output_quant, bias_quant)

    _raw = QuantConv1d._raw
    forward = QuantConv1d.forward
    _from_float_ctor = QuantConv1d.__dict__["_from_float_ctor"]


class QuantConvTranspose2d(_QuantWeightMixin, nn.ConvTranspose2d):
    """Weight shape (in, out/groups, kH, kW): a per-channel weight spec wants channel_axis=1."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, weight_quant=None, input_quant=None, output_quant=None, bias_quant=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                         dilation)
        self._setup_quant(weight_quant, input_quant, output_quant, bias_quant)

    def _raw(self, x, w, b):
        return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding, self.groups,
                                  self.dilation)

    def forward(self, x):
        return self._quant_forward(x)

    @classmethod
    def _from_float_ctor(cls, m, *q):
        return cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                   output_padding=m.output_padding, groups=m.groups, bias=m.bias is not None,
                   dilation=m.dilation, **_qkw(q))


def _qkw(q):
    return dict(zip(("weight_quant", "input_quant", "output_quant", "bias_quant"), q))
