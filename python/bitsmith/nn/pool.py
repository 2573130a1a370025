"""Quantized pooling.

Max pooling commutes with a monotone quantizer, so QuantMaxPool2d is plain max pooling
of an already-quantized input (no quantizer of its own).

QuantAvgPool2d is Brevitas' TruncAvgPool2d idea, exported as QONNX Trunc (v1): the input
is quantized (scale s, b bits), the k*k window is summed exactly on that grid (the
integer accumulator has b + t bits, k*k = 2^t), and Trunc drops the t low bits with
``rounding`` (FLOOR by default): y = R(sum_int / 2^t) * s, the average on the input's
grid. The window area must be a power of two so that the drop is exactly the average.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import fake_quant as FQ
from ..quant import IntQuant
from .quantizer import make_quantizer


class QuantMaxPool2d(nn.MaxPool2d):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)


@torch.library.custom_op("bitsmith_nn::trunc", mutates_args=())
def trunc(x: torch.Tensor, scale: torch.Tensor, in_bits: int, out_bits: int, signed: bool,
          rounding: str) -> torch.Tensor:
    """QONNX Trunc v1 with zero point 0, in qonnx's float32 steps: R(round(x/s) / 2^t) * s."""
    shift = float(2.0 ** -(in_bits - out_bits))
    zero = torch.zeros((), dtype=torch.float32, device=x.device)
    one = torch.ones((), dtype=torch.float32, device=x.device)
    # Both roundings go through the core at scale 1 (exact); r * 2^-t is exact.
    r = FQ.int_quant(x / scale, one, zero, in_bits, signed, False, "ROUND")
    return FQ.int_quant(r * shift, one, zero, out_bits, signed, False, rounding) * scale


@trunc.register_fake
def _(x, scale, in_bits, out_bits, signed, rounding):
    return x.new_empty(x.shape)


def _trunc_backward(ctx, grad):
    return grad * ctx.shift, None, None, None, None, None


def _trunc_setup(ctx, inputs, output):
    ctx.shift = float(2.0 ** -(inputs[2] - inputs[3]))


trunc.register_autograd(_trunc_backward, setup_context=_trunc_setup)


class QuantAvgPool2d(nn.Module):
    def __init__(self, kernel_size, stride=None, input_quant=None, rounding: str = "FLOOR"):
        super().__init__()
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        area = k[0] * k[1]
        if area & (area - 1):
            raise ValueError(f"QuantAvgPool2d needs a window area that is a power of two (got {k}): "
                             "Trunc drops whole bits")
        spec = IntQuant(bits=8) if input_quant is None else input_quant
        self.input_quant = make_quantizer(spec)
        s = self.input_quant.spec
        if not isinstance(s, IntQuant) or s.zero_point or s.granularity != "per_tensor":
            raise ValueError("QuantAvgPool2d needs a per-tensor IntQuant input quantizer without a zero point")
        if s.learned_bits:
            raise ValueError("QuantAvgPool2d's Trunc is sized by a fixed bit width: use learned_bits=False for its "
                             "input quantizer")
        self.kernel_size, self.stride, self.rounding = k, stride, rounding.upper()
        self.shift_bits = int(math.log2(area))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, _ = self.input_quant.current_scale(x)
        spec = self.input_quant.spec
        xq = FQ.fake_quant(x, spec, scale)
        # The sum of the window, exact on the grid: the average times the (power of two) area.
        acc = F.avg_pool2d(xq, self.kernel_size, self.stride) * float(1 << self.shift_bits)
        return trunc(acc, scale, spec.bits + self.shift_bits, spec.bits, spec.signed, self.rounding)
