"""Straight-through helpers for learned power-of-two scales (pure PyTorch).

Brevitas' PowerOfTwo restriction keeps a learned scale as ``log2(scale)`` and uses
``2 ** round_ste(log2_scale)`` in the forward: the rounding is skipped by the gradient
(a straight-through estimator), so ``d scale / d log2_scale = ln(2) * 2 ** round(log2_scale)``.
The forward value is an exact power of two, so it travels as a float32 scale unchanged.
"""

from __future__ import annotations

import torch


class _RoundSte(torch.autograd.Function):
    """torch.round (half to even, as Brevitas' RoundSte) forward, identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) half to even, with the gradient of the identity."""
    return _RoundSte.apply(x)


def po2_scale(log2_scale: torch.Tensor) -> torch.Tensor:
    """2 ** round_ste(log2_scale): the power-of-two scale a learned log2 parameter gives."""
    # exp2 of an integer-valued float32 is exact (a power of two) inside float32's range.
    return torch.exp2(round_ste(log2_scale))
