"""An independent exact interpreter of (small) QONNX graphs on Python Fractions.

Every value is a numpy object array of Fractions; every rounding decision follows
SEMANTICS.md on the true value. Softmax has no exact value: like bitsmith's exact mode it
is evaluated in double from the exact inputs' nearest doubles, and returned as a float64
array (the caller compares it with a stated double-precision error bound). Ops outside
the subset raise NotImplementedError so a test can say which models it covers."""

import math
from fractions import Fraction

import numpy as np
import onnx
from onnx import numpy_helper

from fraction_ref import int_range, round_fraction

def frac_array(a):
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return np.vectorize(lambda v: Fraction(int(v)), otypes=[object])(a) if a.size else a.astype(object)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise NotImplementedError("non-finite constant")
    return np.vectorize(lambda v: Fraction(float(v)), otypes=[object])(a) if a.size else a.astype(object)


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


class SoftmaxDouble(np.ndarray):
    """Marks a float64 result computed in double (no exact value exists)."""


def _quant(x, s, z, bw, signed, narrow, mode):
    out = np.empty(np.broadcast_shapes(x.shape, s.shape, z.shape, bw.shape), dtype=object)
    xb, sb, zb, bb = (np.broadcast_to(v, out.shape) for v in (x, s, z, bw))
    for i in np.ndindex(out.shape):
        bits = int(bb[i])
        t = xb[i] / sb[i] + zb[i]
        if bits == 1 and signed:
            q = 1 if t >= 0 else -1
        else:
            lo, hi = int_range(bits, signed, narrow)
            q = round_fraction(min(max(t, lo), hi), mode)
        out[i] = (q - zb[i]) * sb[i]
    return out


def _float_quant(x, s, e_bits, m_bits, bias, max_val, a):
    mode = _s(a.get("rounding_mode", "ROUND")).upper()
    E, M, b = int(e_bits.flat[0]), int(m_bits.flat[0]), int(bias.flat[0])
    maxv = min((2 - Fraction(1, 2**M)) * Fraction(2) ** (2**E - 1 - b), max_val.flat[0])
    if not a.get("saturation", 1):
        raise NotImplementedError("non-saturating FloatQuant")
    out = np.empty(np.broadcast_shapes(x.shape, s.shape), dtype=object)
    xb, sb = np.broadcast_to(x, out.shape), np.broadcast_to(s, out.shape)
    for i in np.ndindex(out.shape):
        u = xb[i] / sb[i]
        if u == 0:
            q = Fraction(0)
        else:
            e = max(_floor_log2(abs(u)) - M, 1 - b - M)
            p = Fraction(2) ** e
            q = p * round_fraction(u / p, mode)
        q = min(max(q, -maxv), maxv)
        out[i] = q * sb[i]
    return out


def _floor_log2(a: Fraction) -> int:
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if (a.numerator << max(-e, 0)) < (a.denominator << max(e, 0)):
        e -= 1
    return e


def _conv(x, w, b, a):
    nsp = w.ndim - 2
    group = a.get("group", 1)
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    pads = a.get("pads", [0] * 2 * nsp)
    auto_pad = _s(a.get("auto_pad", "NOTSET")).upper()
    if auto_pad == "VALID":
        pads = [0] * 2 * nsp
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        # Output size ceil(in / stride); an odd total pad puts the extra cell at the end
        # (SAME_UPPER) or the start (SAME_LOWER).
        pads = [0] * 2 * nsp
        for k in range(nsp):
            size = x.shape[2 + k]
            total = max(0, (-(-size // strides[k]) - 1) * strides[k] + dil[k] * (w.shape[2 + k] - 1) + 1 - size)
            small, large = total // 2, total - total // 2
            pads[k], pads[k + nsp] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad not in ("NOTSET", ""):
        raise NotImplementedError(f"auto_pad {auto_pad}")
    pad_width = [(0, 0), (0, 0)] + [(pads[k], pads[k + nsp]) for k in range(nsp)]
    xp = np.pad(x, pad_width, constant_values=Fraction(0))
    N, C = xp.shape[:2]
    O, Cg = w.shape[:2]
    ks = w.shape[2:]
    out_sp = [(xp.shape[2 + k] - dil[k] * (ks[k] - 1) - 1) // strides[k] + 1 for k in range(nsp)]
    out = np.empty((N, O, *out_sp), dtype=object)
    og = O // group
    for n in range(N):
        for o in range(O):
            g = o // og
            wk = w[o]  # (Cg, *ks)
            for pos in np.ndindex(*out_sp):
                sl = tuple(slice(pos[k] * strides[k], pos[k] * strides[k] + dil[k] * (ks[k] - 1) + 1, dil[k])
                           for k in range(nsp))
                patch = xp[(n, slice(g * Cg, (g + 1) * Cg)) + sl]
                acc = sum((patch * wk).ravel(), Fraction(0))
                if b is not None:
                    acc += b[o]
                out[(n, o) + pos] = acc
    return out


def _conv_transpose(x, w, b, a):
    """Scatter form: every input element adds x * w to the outputs it reaches."""
    nsp = w.ndim - 2
    if a.get("group", 1) != 1 or "output_shape" in a or _s(a.get("auto_pad", "NOTSET")) not in ("NOTSET", ""):
        raise NotImplementedError("ConvTranspose options")
    strides = a.get("strides", [1] * nsp)
    dil = a.get("dilations", [1] * nsp)
    pads = a.get("pads", [0] * 2 * nsp)
    opad = a.get("output_padding", [0] * nsp)
    N, C = x.shape[:2]
    O = w.shape[1]
    ks = w.shape[2:]
    full = [(x.shape[2 + k] - 1) * strides[k] + dil[k] * (ks[k] - 1) + 1 + opad[k] for k in range(nsp)]
    acc = np.full((N, O, *full), Fraction(0), dtype=object)
    for n in range(N):
        for c in range(C):
            for pos in np.ndindex(*x.shape[2:]):
                v = x[(n, c) + pos]
                for kk in np.ndindex(*ks):
                    tgt = tuple(pos[k] * strides[k] + kk[k] * dil[k] for k in range(nsp))
                    for o in range(O):
                        acc[(n, o) + tgt] += v * w[(c, o) + kk]
    sl = tuple(slice(pads[k], full[k] - pads[k + nsp]) for k in range(nsp))
    y = acc[(slice(None), slice(None)) + sl]
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * nsp)
    return y


def _pool(x, a, kind):
    k = a["kernel_shape"]
    nsp = len(k)
    strides = a.get("strides", k)
    pads = a.get("pads", [0] * 2 * nsp)
    if a.get("ceil_mode", 0) or a.get("dilations", [1] * nsp) != [1] * nsp:
        raise NotImplementedError("pool options")
    fill = None
    pad_width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)]
    xp = np.pad(x, pad_width, constant_values=fill)
    out_sp = [(xp.shape[2 + i] - k[i]) // strides[i] + 1 for i in range(nsp)]
    out = np.empty(x.shape[:2] + tuple(out_sp), dtype=object)
    for idx in np.ndindex(*x.shape[:2], *out_sp):
        pos = idx[2:]
        sl = tuple(slice(pos[i] * strides[i], pos[i] * strides[i] + k[i]) for i in range(nsp))
        win = [v for v in xp[idx[:2] + sl].ravel() if v is not None]
        if kind == "max":
            out[idx] = max(win)
        else:
            cnt = int(np.prod(k)) if a.get("count_include_pad", 0) else len(win)
            out[idx] = sum(win, Fraction(0)) / cnt
    return out


def _trunc(ins, a):
    x, s, z, in_bw = ins[:4]
    mode = _s(a.get("rounding_mode", "FLOOR")).upper()
    out = np.empty(np.broadcast_shapes(*(v.shape for v in ins)), dtype=object)
    xb, sb, zb = (np.broadcast_to(v, out.shape) for v in (x, s, z))
    if len(ins) == 6:  # v2: x, s, z, in_bw, out_scale, out_bw
        osc, obw = ins[4], ins[5]
        ob = np.broadcast_to(osc, out.shape)
        bb = np.broadcast_to(obw, out.shape)
        signed, narrow = bool(a.get("signed", 1)), bool(a.get("narrow", 0))
        for i in np.ndindex(out.shape):
            t = round_fraction(xb[i] / sb[i] + zb[i], "ROUND")
            k = Fraction(2) ** round(math.log2(float(ob[i] / sb[i])))
            lo, hi = int_range(int(bb[i]), signed, narrow)
            q = round_fraction(min(max(Fraction(t) / k, lo), hi), mode)
            out[i] = (q - zb[i] / k) * ob[i]
        return out
    obw = ins[4]
    ib = np.broadcast_to(in_bw, out.shape)
    bb = np.broadcast_to(obw, out.shape)
    for i in np.ndindex(out.shape):
        t = round_fraction(xb[i] / sb[i] + zb[i], "ROUND")
        q = round_fraction(Fraction(t) / 2 ** (int(ib[i]) - int(bb[i])), mode)
        out[i] = (q - zb[i]) * sb[i]
    return out


def _depth_to_space(x, a):
    """ONNX DepthToSpace: DCR reads the block index before the channel, CRD after."""
    b = a["blocksize"]
    n, c, h, w = x.shape
    if _s(a.get("mode", "DCR")).upper() == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (b * b), h * b, w * b)


def _softmax_double(x, axis):
    xd = np.vectorize(float, otypes=[np.float64])(x)
    m = np.max(xd, axis=axis, keepdims=True)
    e = np.exp(xd - m)
    return (e / np.sum(e, axis=axis, keepdims=True)).view(SoftmaxDouble)


def run_exact(model: onnx.ModelProto, feeds: dict) -> dict:
    """Returns every value of the graph by name: object arrays of Fractions, or
    SoftmaxDouble float64 arrays downstream of a Softmax."""
    g = model.graph
    opset = {o.domain: o.version for o in model.opset_import}
    env = {i.name: frac_array(numpy_helper.to_array(i)) for i in g.initializer}
    for k, v in feeds.items():
        env[k] = frac_array(v)
    for node in g.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if any(isinstance(v, SoftmaxDouble) for v in ins if v is not None):
            raise NotImplementedError("values after a Softmax")
        if op in ("Quant", "IntQuant"):
            y = _quant(ins[0], ins[1], ins[2], ins[3], bool(a.get("signed", 1)), bool(a.get("narrow", 0)),
                       _s(a.get("rounding_mode", "ROUND")))
        elif op == "BipolarQuant":
            y = np.vectorize(lambda v, s: (1 if v >= 0 else -1) * s, otypes=[object])(ins[0], ins[1])
        elif op == "FloatQuant":
            y = _float_quant(*ins[:6], a)
        elif op == "Trunc":
            y = _trunc(ins, a)
        elif op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "ConvTranspose":
            y = _conv_transpose(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = np.dot(A, B) * Fraction(a.get("alpha", 1.0))
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2] * Fraction(a.get("beta", 1.0))
        elif op == "MatMul":
            y = np.matmul(ins[0], ins[1]) if ins[0].ndim > 2 or ins[1].ndim > 2 else np.dot(ins[0], ins[1])
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Relu":
            y = np.vectorize(lambda v: v if v > 0 else Fraction(0), otypes=[object])(ins[0])
        elif op == "MaxPool":
            y = _pool(ins[0], a, "max")
        elif op == "AveragePool":
            y = _pool(ins[0], a, "avg")
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            shape = [ins[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
            y = ins[0].reshape(shape)
        elif op == "Transpose":
            y = np.transpose(ins[0], a.get("perm"))
        elif op == "Concat":
            y = np.concatenate(ins, axis=a["axis"])
        elif op == "DepthToSpace":
            y = _depth_to_space(ins[0], a)
        elif op == "Identity":
            y = ins[0]
        elif op == "Softmax":
            axis = a.get("axis", -1 if opset.get("", 13) >= 13 else 1)
            if opset.get("", 13) < 13 and axis % ins[0].ndim != ins[0].ndim - 1:
                raise NotImplementedError("old Softmax on an inner axis")
            y = _softmax_double(ins[0], axis)
        else:
            raise NotImplementedError(f"exact oracle has no {op}")
        env[node.output[0]] = y
    return env
