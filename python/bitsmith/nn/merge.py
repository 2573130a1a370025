"""QuantAdd and QuantCat: every input passes the SAME quantizer, so all inputs share one
scale and the sum or concatenation is exact on that grid; residual networks keep one
scale at the join in eval mode. An optional output quantizer follows."""

from __future__ import annotations

import torch
from torch import nn

from ..quant import IntQuant
from .quantizer import make_quantizer


class QuantAdd(nn.Module):
    def __init__(self, input_quant=None, output_quant=None):
        super().__init__()
        self.input_quant = make_quantizer(IntQuant(bits=8) if input_quant is None else input_quant)
        self.output_quant = make_quantizer(output_quant)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = self.input_quant(a) + self.input_quant(b)
        return y if self.output_quant is None else self.output_quant(y)


class QuantCat(nn.Module):
    def __init__(self, dim: int = 1, input_quant=None):
        super().__init__()
        self.dim = dim
        self.input_quant = make_quantizer(IntQuant(bits=8) if input_quant is None else input_quant)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        return torch.cat([self.input_quant(x) for x in xs], dim=self.dim)
