"""Quantizer specifications: what a tensor is quantized to, and how its scale is found.

A spec is a frozen dataclass that only describes; it holds no tensors and imports no
torch, so ``import bitsmith`` stays light. The fake-quant ops (``bitsmith.fake_quant``)
and the layers read these specs. Every spec checks itself when it is built and raises
:class:`SpecError` (a ``ValueError``) with a message that says what to change; the
rules are listed in docs/quantizers.md.

>>> from bitsmith.quant import IntQuant, FP8_E4M3
>>> w = IntQuant(bits=4, granularity="per_channel")
>>> a = IntQuant(bits=8, signed=False, scale="po2")
>>> f = FP8_E4M3.replace(scale_stats="minmax")
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

__all__ = [
    "SpecError",
    "ROUNDING_MODES",
    "IntQuant",
    "MiniFloatQuant",
    "BipolarQuant",
    "TernaryQuant",
    "FP8_E4M3",
    "FP8_E5M2",
    "FP6_E3M2",
    "FP6_E2M3",
    "FP4_E2M1",
]


class SpecError(ValueError):
    """A quantizer spec with an invalid combination of settings."""


# SEMANTICS.md "Rounding modes"; ROUND is HALF_EVEN.
ROUNDING_MODES = ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "CEIL", "FLOOR", "UP", "DOWN")
GRANULARITIES = ("per_tensor", "per_channel", "per_group")
SCALE_KINDS = ("float", "po2")
SCALE_STATS = ("minmax", "percentile", "mse", "const")
_DEFAULT_PERCENTILE = 99.99
_FLT_MAX = 3.4028234663852886e38
_FLT_NORMAL_MIN = 1.1754943508222875e-38


def _fail(cls: type, msg: str) -> None:
    raise SpecError(f"{cls.__name__}: {msg}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_rounding(cls: type, rounding: object) -> str:
    if not isinstance(rounding, str) or rounding.upper() not in ROUNDING_MODES:
        _fail(cls, f"rounding={rounding!r} is not a rounding mode; use one of {', '.join(ROUNDING_MODES)}")
    return rounding.upper()


def _is_po2(v: float) -> bool:
    m, _ = math.frexp(v)
    return m == 0.5


# Keyword-only, so each spec's own fields come first: IntQuant(4), MiniFloatQuant(4, 3).
@dataclass(frozen=True, kw_only=True)
class _ScaledSpec:
    """The scale settings every quantizer shares (see docs/quantizers.md, "Scales")."""

    granularity: str = "per_tensor"
    group_size: Optional[int] = None
    channel_axis: int = 0
    scale: str = "float"
    scale_stats: str = "minmax"
    percentile: float = _DEFAULT_PERCENTILE
    const_scale: Optional[float] = None
    learned_scale: bool = False

    def replace(self, **changes):
        """A copy with some fields changed, checked again."""
        return dataclasses.replace(self, **changes)

    def _check_scale(self, const_default: Optional[float] = None) -> None:
        cls = type(self)
        if self.granularity not in GRANULARITIES:
            _fail(cls, f"granularity={self.granularity!r}; use one of {', '.join(GRANULARITIES)}")
        if self.granularity == "per_group":
            if not _is_int(self.group_size) or self.group_size < 1:
                _fail(cls, "granularity='per_group' needs group_size, a positive integer "
                      f"(got group_size={self.group_size!r})")
        elif self.group_size is not None:
            _fail(cls, f"group_size={self.group_size!r} only applies to granularity='per_group'; "
                  "drop group_size or set granularity='per_group'")
        if not _is_int(self.channel_axis):
            _fail(cls, f"channel_axis must be an integer, got {self.channel_axis!r}")
        if self.scale not in SCALE_KINDS:
            _fail(cls, f"scale={self.scale!r}; use 'float' (any positive float32) or 'po2' (a power of two)")
        if self.scale_stats not in SCALE_STATS:
            _fail(cls, f"scale_stats={self.scale_stats!r}; use one of {', '.join(SCALE_STATS)}")
        p = self.percentile
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 100:
            _fail(cls, f"percentile={p!r} must be a number in (0, 100]")
        if self.scale_stats != "percentile" and p != _DEFAULT_PERCENTILE:
            _fail(cls, f"percentile={p!r} is only read with scale_stats='percentile' "
                  f"(scale_stats is {self.scale_stats!r}); set scale_stats='percentile' or drop percentile")
        if self.scale_stats == "const":
            c = const_default if self.const_scale is None else self.const_scale
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not (math.isfinite(c) and c > 0):
                _fail(cls, f"scale_stats='const' needs const_scale, a finite positive number (got {c!r})")
            if not _FLT_NORMAL_MIN <= c <= _FLT_MAX:
                _fail(cls, f"const_scale={c!r} is outside float32's normal range [{_FLT_NORMAL_MIN}, {_FLT_MAX}]; "
                      "scales travel as float32")
            if self.scale == "po2" and not _is_po2(float(c)):
                _fail(cls, f"scale='po2' needs const_scale to be a power of two, got {c!r}; "
                      f"use {2.0 ** round(math.log2(c))!r} or scale='float'")
            if self.granularity != "per_tensor":
                _fail(cls, "a const_scale is one number: use granularity='per_tensor' with scale_stats='const'")
        elif self.const_scale is not None:
            _fail(cls, f"const_scale={self.const_scale!r} is only read with scale_stats='const' "
                  f"(scale_stats is {self.scale_stats!r}); set scale_stats='const' or drop const_scale")
        if not isinstance(self.learned_scale, bool):
            _fail(cls, f"learned_scale must be True or False, got {self.learned_scale!r}")


@dataclass(frozen=True)
class IntQuant(_ScaledSpec):
    """Integer quantization, QONNX ``Quant``: y = (R(clamp(x/s + z)) - z) * s.

    bits 1..16; signed/narrow as in SEMANTICS.md's range table; zero_point=True is
    asymmetric (an integer zero point found with the scale). learned_scale is LSQ (with
    scale='po2' the parameter is log2 of the scale, rounded in the forward);
    learned_bits makes the bit width a trained parameter starting at ``bits``, used
    rounded and clamped to 2..16 (docs/quantizers.md, "Learned scales and bit widths").
    """

    bits: int = 8
    signed: bool = True
    narrow: bool = False
    learned_bits: bool = False
    rounding: str = "ROUND"
    zero_point: bool = False

    def __post_init__(self) -> None:
        cls = type(self)
        if not _is_int(self.bits) or not 1 <= self.bits <= 16:
            _fail(cls, f"bits={self.bits!r}; use an integer from 1 to 16")
        for name in ("signed", "narrow", "learned_bits", "zero_point"):
            if not isinstance(getattr(self, name), bool):
                _fail(cls, f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.bits == 1 and self.signed:
            _fail(cls, "signed 1-bit is the bipolar quantizer (QONNX's special case, values -s and +s); "
                  "use BipolarQuant(), or signed=False for levels {0, 1}")
        if self.bits == 1 and self.narrow:
            _fail(cls, "narrow=True leaves unsigned 1-bit a single level {0}; set narrow=False or bits>=2")
        if self.learned_bits and self.bits < 2:
            _fail(cls, "learned_bits=True needs bits>=2 to start from (a learned bit width is kept in 2..16)")
        if self.zero_point and self.scale_stats == "const":
            _fail(cls, "zero_point=True places the zero point from statistics; use scale_stats 'minmax', "
                  "'percentile' or 'mse', or zero_point=False with a const_scale")
        object.__setattr__(self, "rounding", _check_rounding(cls, self.rounding))
        self._check_scale()

    @property
    def int_range(self) -> tuple[int, int]:
        """(min, max) integer levels, SEMANTICS.md's table."""
        if self.signed:
            lo, hi = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
            return (lo + 1 if self.narrow else lo), hi
        hi = (1 << self.bits) - 1
        return 0, (hi - 1 if self.narrow else hi)


@dataclass(frozen=True)
class MiniFloatQuant(_ScaledSpec):
    """Minifloat quantization, QONNX ``FloatQuant``, of x/s with E exponent and M mantissa bits.

    bias defaults to 2^(E-1) - 1; max_val caps the largest magnitude below the
    format's formula (2 - 2^-M) * 2^(2^E - 1 - bias) (OCP E4M3 uses 448). With
    saturating=False an overflow becomes inf (has_inf) or NaN (has_nan). The scale
    defaults to the constant 1 (scale_stats='const' with no const_scale: a plain cast
    to the format); ``FP8_E4M3.replace(scale_stats="minmax")`` scales by statistics.
    """

    exp_bits: int = 4
    mant_bits: int = 3
    bias: Optional[int] = None
    max_val: Optional[float] = None
    saturating: bool = True
    has_inf: bool = False
    has_nan: bool = True
    has_subnormal: bool = True
    rounding: str = "ROUND"
    scale_stats: str = field(default="const", kw_only=True)

    def __post_init__(self) -> None:
        cls = type(self)
        # The carrier is float32: a wider format cannot be held in it.
        if not _is_int(self.exp_bits) or not 1 <= self.exp_bits <= 8:
            _fail(cls, f"exp_bits={self.exp_bits!r}; use an integer from 1 to 8 (float32 carries the values)")
        if not _is_int(self.mant_bits) or not 0 <= self.mant_bits <= 23:
            _fail(cls, f"mant_bits={self.mant_bits!r}; use an integer from 0 to 23 (float32 carries the values)")
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.exp_bits - 1)) - 1)
        elif not _is_int(self.bias):
            _fail(cls, f"bias must be an integer, got {self.bias!r}")
        for name in ("saturating", "has_inf", "has_nan", "has_subnormal"):
            if not isinstance(getattr(self, name), bool):
                _fail(cls, f"{name} must be True or False, got {getattr(self, name)!r}")
        top = self.format_max
        # Every normal and subnormal level must be a float32 (a finite, nonzero max and
        # smallest subnormal 2^(1 - bias - M) >= 2^-149).
        if not (math.isfinite(top) and top <= _FLT_MAX) or 1 - self.bias - self.mant_bits < -149:
            _fail(cls, f"E={self.exp_bits} M={self.mant_bits} bias={self.bias} has levels outside float32; "
                  "choose a bias that keeps the range inside float32")
        if self.max_val is not None:
            m = self.max_val
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not (math.isfinite(m) and m > 0):
                _fail(cls, f"max_val={m!r} must be a finite positive number or None")
            if m > top:
                _fail(cls, f"max_val={m!r} is above the format's largest value {top!r}; "
                      "lower it or drop max_val")
        if not self.has_subnormal:
            _fail(cls, "has_subnormal=False is not supported: QONNX FloatQuant always keeps subnormals; "
                  "use has_subnormal=True")
        if not self.saturating and not (self.has_inf or self.has_nan):
            _fail(cls, "saturating=False needs has_inf=True or has_nan=True (an overflow needs somewhere to go)")
        object.__setattr__(self, "rounding", _check_rounding(cls, self.rounding))
        self._check_scale(const_default=1.0)

    @property
    def format_max(self) -> float:
        """(2 - 2^-M) * 2^(2^E - 1 - bias), the formula's largest magnitude."""
        e = (1 << self.exp_bits) - 1 - self.bias
        try:
            return math.ldexp(2.0 - 2.0 ** -self.mant_bits, e)
        except OverflowError:
            return math.inf

    @property
    def max_value(self) -> float:
        """The largest magnitude after max_val."""
        top = self.format_max
        return top if self.max_val is None else min(top, float(self.max_val))


@dataclass(frozen=True)
class BipolarQuant(_ScaledSpec):
    """Binary quantization: y = +s where x/s >= 0, -s elsewhere (QONNX signed 1-bit Quant)."""

    def __post_init__(self) -> None:
        self._check_scale()


@dataclass(frozen=True)
class TernaryQuant(_ScaledSpec):
    """Ternary quantization to {-s, 0, +s}: +-s where |x/s| > threshold, 0 elsewhere.

    threshold is a fraction of the scale in (0, 1). 0.5 is exactly QONNX's signed
    narrow 2-bit Quant with ROUND; any other threshold is that Quant at scale
    2*threshold*s, then each level times s (docs/quantizers.md, "Ternary").
    """

    threshold: float = 0.5

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            _fail(type(self), f"threshold={t!r} must be a number in (0, 1), a fraction of the scale")
        self._check_scale()


# OCP 8-bit formats: E4M3 has no inf and keeps one NaN pattern, so its top is 448,
# not the formula's 480; E5M2 is IEEE-like, the top exponent holds inf and NaN.
FP8_E4M3 = MiniFloatQuant(exp_bits=4, mant_bits=3, max_val=448.0, has_inf=False, has_nan=True)
FP8_E5M2 = MiniFloatQuant(exp_bits=5, mant_bits=2, max_val=57344.0, has_inf=True, has_nan=True)
# OCP MX 6- and 4-bit formats: no inf, no NaN; every bit pattern is a number.
FP6_E3M2 = MiniFloatQuant(exp_bits=3, mant_bits=2, has_inf=False, has_nan=False)
FP6_E2M3 = MiniFloatQuant(exp_bits=2, mant_bits=3, has_inf=False, has_nan=False)
FP4_E2M1 = MiniFloatQuant(exp_bits=2, mant_bits=1, has_inf=False, has_nan=False)
