"""Independent references for the Python tests: exact rounding on Fractions, correct
rounding of a Fraction to float32, the integer ranges, and the float (numpy) meaning of
every rounding mode. Written from SEMANTICS.md, not from bitsmith's C++ code, so that a
test comparing the two checks something."""

import math
from fractions import Fraction

import numpy as np

MODES = ["ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "CEIL", "FLOOR", "UP", "DOWN"]
HALF = Fraction(1, 2)


def int_range(bits, signed, narrow):
    """SEMANTICS.md 'Integer range of a bit width' (narrow narrows unsigned too)."""
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return (lo + 1 if narrow else lo), hi
    hi = 2**bits - 1
    return 0, (hi - 1 if narrow else hi)


def round_fraction(f: Fraction, mode: str) -> int:
    """The rounding decision taken on the true value f."""
    mode = mode.upper()
    fl = math.floor(f)
    frac = f - fl
    if frac == 0:
        return fl
    positive = f > 0
    if mode == "FLOOR":
        return fl
    if mode == "CEIL":
        return fl + 1
    if mode == "DOWN":
        return fl if positive else fl + 1
    if mode == "UP":
        return fl + 1 if positive else fl
    if frac < HALF:
        return fl
    if frac > HALF:
        return fl + 1
    if mode == "HALF_UP":
        return fl + 1 if positive else fl
    if mode == "HALF_DOWN":
        return fl if positive else fl + 1
    assert mode in ("ROUND", "HALF_EVEN"), mode
    return fl if fl % 2 == 0 else fl + 1


def boundary_distance(t: float, mode: str) -> float:
    """Distance from t to the nearest point where the rounding mode changes its answer:
    a .5 tie for the nearest modes, an integer for the directed ones."""
    if mode.upper() in ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN"):
        return abs(t - (math.floor(t) + 0.5))
    return min(t - math.floor(t), math.ceil(t) - t)


def _floor_log2(a: Fraction) -> int:
    e = a.numerator.bit_length() - a.denominator.bit_length()
    # Now 2^(e-1) < a < 2^(e+1); fix up to 2^e <= a < 2^(e+1).
    if (a.numerator << max(-e, 0)) < (a.denominator << max(e, 0)):
        e -= 1
    return e


def to_float32(f) -> np.float32:
    """Correct (nearest, ties to even) rounding of an exact value to float32,
    subnormals and overflow to inf included. Accepts Fraction, int, or a float NaN/inf."""
    if isinstance(f, float) and not math.isfinite(f):
        return np.float32(f)
    f = Fraction(f)
    if f == 0:
        return np.float32(0.0)
    a = abs(f)
    e = max(_floor_log2(a), -126)  # below 2^-126 the spacing stays 2^-149
    ulp = Fraction(2) ** (e - 23)
    m = round(a / ulp)  # Fraction.__round__ breaks ties to even
    v = m * ulp
    if v >= Fraction(2) ** 128:
        r = np.float32(np.inf)
    else:
        r = np.float32(float(v))  # v has at most 24 significant bits: exact in double
    return -r if f < 0 else r


def to_float32_array(fracs, shape=None):
    out = np.array([to_float32(f) for f in np.asarray(fracs, dtype=object).ravel()], dtype=np.float32)
    return out.reshape(shape if shape is not None else np.shape(fracs))


def np_round(x, mode):
    """Float meaning: the rounding as numpy computes it in x's own precision, with the
    formulas SEMANTICS.md gives for the modes numpy lacks."""
    mode = mode.upper()
    with np.errstate(invalid="ignore"):
        if mode in ("ROUND", "HALF_EVEN"):
            return np.round(x)
        if mode == "CEIL":
            return np.ceil(x)
        if mode == "FLOOR":
            return np.floor(x)
        if mode == "DOWN":
            return np.fix(x)
        if mode == "UP":
            return np.sign(x) * np.ceil(np.abs(x))
        if mode == "HALF_UP":
            return np.sign(x) * np.floor(np.abs(x) + x.dtype.type(0.5))
        if mode == "HALF_DOWN":
            return np.sign(x) * np.ceil(np.abs(x) - x.dtype.type(0.5))
    raise ValueError(mode)


def same(a, b):
    """== elementwise with NaN equal to NaN (the sign of zero is not compared)."""
    a = np.asarray(a)
    b = np.asarray(b)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
