"""Quantized activations: the float function, then the activation quantizer."""

from __future__ import annotations

import torch
from torch import nn

from ..quant import IntQuant
from .quantizer import make_quantizer


class _QuantAct(nn.Module):
    _default = IntQuant(bits=8)

    def __init__(self, act_quant=None):
        super().__init__()
        self.act_quant = make_quantizer(self._default if act_quant is None else act_quant)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_quant(self.fn(x))


class QuantIdentity(_QuantAct):
    """Quantizes its input (a network's input quantizer, or a requantization)."""

    def fn(self, x):
        return x


class QuantReLU(_QuantAct):
    _default = IntQuant(bits=8, signed=False)

    def fn(self, x):
        return torch.relu(x)


class QuantHardTanh(_QuantAct):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, act_quant=None):
        super().__init__(act_quant)
        self.min_val, self.max_val = float(min_val), float(max_val)

    def fn(self, x):
        return torch.clamp(x, self.min_val, self.max_val)


class QuantSigmoid(_QuantAct):
    _default = IntQuant(bits=8, signed=False)

    def fn(self, x):
        return torch.sigmoid(x)


class QuantTanh(_QuantAct):
    def fn(self, x):
        return torch.tanh(x)
