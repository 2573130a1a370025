"""Proves that every difference between qonnx's float execution and bitsmith's float
mode is a float32 rounding-boundary case, with no tolerance on the final answer.

Walk the (cleaned, topologically sorted) graph node by node with both engines'
intermediates Q (qonnx) and B (bitsmith). For every value we carry an a-priori bound
D >= |Q - B|, derived from the op and its inputs' bounds, never from the observed
difference:
  - ops float32 computes exactly or correctly rounded (Relu, MaxPool, Add/Sub/Mul of
    identical inputs, reshapes...) get D = 0: their outputs must be identical;
  - accumulating ops (Conv, Gemm, MatMul, AveragePool, BatchNorm, Softmax) may sum in
    another order: D = the standard float32 summation bound (n+2)*u*sum|terms| with
    u = 2^-24 and n the accumulation length (Higham, Accuracy and Stability, 3.1), plus
    the propagation of the inputs' bounds;
  - a quantizer whose input differs may only change an output where the pre-rounding
    value qonnx computed (x/s + z for Quant) lies within D/s + 4u(|t|+|z|+1) of a point
    where the rounding changes (a .5 tie for ROUND/HALF_*, an integer for FLOOR/CEIL/
    UP/DOWN, zero for BipolarQuant, a threshold for MultiThreshold). Such positions
    are counted as boundary cases, and every value computed from them afterwards is a
    counted consequence, not checked further.
Any other difference fails with the node, op, position and values."""

import numpy as np

U = 2.0**-24  # float32 unit roundoff
TINY = 2.0**-149  # float32 subnormal spacing: the absolute error floor
QUANT_OPS = {"Quant", "IntQuant", "BipolarQuant", "Trunc", "FloatQuant", "MultiThreshold"}
SHAPE_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}
MOVEMENT_OPS = {"DepthToSpace", "SpaceToDepth", "Pad", "Slice", "Gather", "Expand", "Tile", "Split"}


class Unexplained(AssertionError):
    pass


def _attrs(node):
    import onnx.helper

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


class FloatProof:
    def __init__(self, model_proto, Q, B, label):
        self.model = model_proto
        self.g = model_proto.graph
        self.Q = Q
        self.B = B
        self.label = label
        self.D = {}  # name -> bound array (None: identical)
        self.tainted = set()
        self.boundary_cases = 0
        self.consequences = 0
        self.inexact_diffs = 0  # elements differing within an accumulation bound
        self.opset = {o.domain: o.version for o in model_proto.opset_import}
        # Values computed from a graph input; the others are constants bitsmith may fold away.
        self.live = {i.name for i in self.g.input} - {i.name for i in self.g.initializer}
        for node in self.g.node:
            if any(i in self.live for i in node.input):
                self.live.update(node.output)

    # -------------------------------------------------------------- helpers
    def q(self, name):
        return np.asarray(self.Q[name])

    def b(self, name):
        if name in self.B:
            return np.asarray(self.B[name])
        return None

    def dz(self, name):
        """Bound of an input as a float64 array of the value's shape (zeros if identical)."""
        d = self.D.get(name)
        shape = self.q(name).shape
        if d is None:
            return np.zeros(shape)
        return np.broadcast_to(d, shape).astype(np.float64)

    def absq(self, name):
        return np.abs(self.q(name).astype(np.float64))

    def fail(self, node, msg):
        raise Unexplained(f"{self.label}: node '{node.name}' ({node.op_type}): {msg}")

    # -------------------------------------------------------------- driver
    def run(self):
        for node in self.g.node:
            ins = [i for i in node.input if i]
            outs = [o for o in node.output if o]
            if any(i in self.tainted for i in ins):
                for o in outs:
                    self.tainted.add(o)
                    bo = self.b(o)
                    if bo is not None and bo.shape == self.q(o).shape:
                        self.consequences += int(np.sum(~_same(self.q(o), bo)))
                continue
            if node.op_type in QUANT_OPS:
                self.quant_node(node, ins, outs)
                continue
            bound = self.propagate(node, ins)
            for o in outs:
                self.check_bound(node, o, bound)
        return self

    def check_bound(self, node, o, bound):
        qo, bo = self.q(o), self.b(o)
        if bo is None and o not in self.live and bound is None:
            self.D[o] = None  # a constant: same file, same value
            return
        if bo is None:
            self.fail(node, f"bitsmith returned no intermediate '{o}'")
        if bo.shape != qo.shape:
            self.fail(node, f"shape of '{o}': qonnx {qo.shape}, bitsmith {bo.shape}")
        diff = ~_same(qo, bo)
        unbounded = isinstance(bound, float) and bound == np.inf
        if not diff.any():
            # Identical now: downstream sees identical values, whatever the a-priori bound was.
            self.D[o] = None if unbounded else bound
            return
        if unbounded:
            i = tuple(np.argwhere(diff)[0])
            self.fail(node, f"output '{o}' differs, and the test has no error-propagation rule for this "
                      f"{node.op_type}: cannot prove it a rounding-boundary effect ({int(diff.sum())} "
                      f"elements, first at {i}: qonnx {qo[i]!r}, bitsmith {bo[i]!r})")
        if bound is None:
            i = np.argwhere(diff)[0]
            self.fail(node, f"output '{o}' differs although every input is identical and the op is exact in "
                      f"float32: {int(diff.sum())} elements, first at {tuple(i)}: qonnx {qo[tuple(i)]!r}, "
                      f"bitsmith {bo[tuple(i)]!r}")
        bound = np.broadcast_to(bound, qo.shape)
        obs = np.abs(qo.astype(np.float64) - bo.astype(np.float64))
        bad = diff & ~(obs <= bound)
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            self.fail(node, f"output '{o}' differs by more than the float32 error bound: {int(bad.sum())} "
                      f"elements, first at {i}: qonnx {qo[i]!r}, bitsmith {bo[i]!r}, |diff| {obs[i]:.3g} > "
                      f"bound {bound[i]:.3g}")
        self.inexact_diffs += int(diff.sum())
        self.D[o] = bound

    # -------------------------------------------------------------- quantizers
    def quant_node(self, node, ins, outs):
        o = outs[0]
        qo, bo = self.q(o), self.b(o)
        if bo is None:
            self.fail(node, f"bitsmith returned no intermediate '{o}'")
        if bo.shape != qo.shape:
            self.fail(node, f"shape of '{o}': qonnx {qo.shape}, bitsmith {bo.shape}")
        diff = ~_same(qo, bo)
        if not diff.any():
            self.D[o] = None
            return
        x = ins[0]
        if self.D.get(x) is None:
            i = tuple(np.argwhere(diff)[0])
            self.fail(node, f"output differs with identical inputs at {int(diff.sum())} elements, first at {i}: "
                      f"input {self.q(x)[i]!r}, qonnx {qo[i]!r}, bitsmith {bo[i]!r}")
        for p in ins[1:]:
            if self.D.get(p) is not None:
                self.fail(node, f"parameter '{p}' differs between the engines; cannot prove boundary cases")
        xq = self.q(x).astype(np.float64)
        dx = self.dz(x)
        xb = self.b(x)
        if xb is not None and xb.shape == xq.shape:
            # The producer's check proved |xq - xb| <= D; the observed gap is tighter still.
            dx = np.minimum(dx, np.abs(xq - xb.astype(np.float64)))
        if xb is not None and xb.shape == qo.shape:
            same_x = diff & _same(self.q(x), xb)
            if same_x.any():
                i = tuple(np.argwhere(same_x)[0])
                self.fail(node, f"output differs where its input is identical ({int(same_x.sum())} elements), "
                          f"first at {i}: input {xq[i]!r}, qonnx {qo[i]!r}, bitsmith {bo[i]!r}")
        a = _attrs(node)
        op = node.op_type
        if op in ("Quant", "IntQuant", "Trunc"):
            s = np.broadcast_to(self.q(ins[1]).astype(np.float64), xq.shape)
            z = np.broadcast_to(self.q(ins[2]).astype(np.float64), xq.shape)
            t = xq / s + z
            width = dx / np.abs(s) + 4 * U * (np.abs(t) + np.abs(z) + 1)
            if op == "Trunc":
                dist = np.abs(t - (np.floor(t) + 0.5))  # its first rounding is half-even
            elif op in ("Quant", "IntQuant") and int(np.max(self.q(ins[3]))) == 1 and a.get("signed", 1):
                dist = np.abs(t)  # bipolar special case: the boundary is t = 0
            else:
                mode = _s(a.get("rounding_mode", "ROUND")).upper()
                dist = _boundary_distance(t, mode)
            what = "x/s + z"
        elif op == "BipolarQuant":
            t, dist, width, what = xq, np.abs(xq), dx, "x"
        elif op == "FloatQuant":
            s = np.broadcast_to(self.q(ins[1]).astype(np.float64), xq.shape)
            m_bits = float(np.max(self.q(ins[3])))
            bias = float(np.max(self.q(ins[4])))
            t = xq / s
            with np.errstate(divide="ignore"):
                e = np.maximum(np.floor(np.log2(np.abs(t))) - m_bits, 1 - bias - m_bits)
            r = t / 2.0**e
            dist = np.abs(r - (np.floor(r) + 0.5))
            width = (dx / np.abs(s) + 4 * U * np.abs(t)) / 2.0**e
            what = "x/s / 2^e"
        else:  # MultiThreshold: the output steps where x crosses a threshold
            thr = self.q(ins[1]).astype(np.float64)
            layout = _s(a.get("data_layout", "NCHW"))
            cax = xq.ndim - 1 if layout.endswith("C") else 1
            chan = np.indices(xq.shape)[cax] if xq.ndim > 1 else np.zeros(xq.shape, int)
            rows = thr[np.minimum(chan, thr.shape[0] - 1)]  # (..., N)
            dist = np.min(np.abs(rows - xq[..., None]), axis=-1)
            t, width, what = xq, dx, "x"
        ok = dist <= width
        bad = diff & ~ok
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            self.fail(node, f"{int(bad.sum())} differing elements are not rounding-boundary cases; first at {i}: "
                      f"{what} = {t[i]!r} is {dist[i]:.3g} from a boundary, more than the float32 error "
                      f"bound {width[i]:.3g}; qonnx {qo[i]!r}, bitsmith {bo[i]!r}")
        self.boundary_cases += int(diff.sum())
        self.tainted.add(o)

    # -------------------------------------------------------------- bounds per op
    def propagate(self, node, ins):
        op = node.op_type
        a = _attrs(node)
        same_in = all(self.D.get(i) is None for i in ins)
        if op in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            return self.linear_bound(node, op, a, ins)
        if op in ("AveragePool", "GlobalAveragePool"):
            return self.avgpool_bound(node, op, a, ins)
        if op == "BatchNormalization":
            x, sc, bi, mean, var = ins[:5]
            if any(self.D.get(p) is not None for p in (sc, bi, mean, var)):
                return np.inf
            xq = self.q(x)
            shp = (1, -1) + (1,) * (xq.ndim - 2)
            eps = a.get("epsilon", 1e-5)
            coef = np.abs(self.q(sc).astype(np.float64) / np.sqrt(self.q(var).astype(np.float64) + eps))
            coef = coef.reshape(shp)
            mag = self.absq(x) * coef + np.abs(self.q(mean).astype(np.float64)).reshape(shp) * coef + np.abs(
                self.q(bi).astype(np.float64)).reshape(shp)
            return coef * self.dz(x) * (1 + 16 * U) + 16 * U * mag + 4 * TINY
        if op == "Softmax":
            x = ins[0]
            y = np.abs(self.q(node.output[0]).astype(np.float64))
            axis = a.get("axis", -1 if self.opset.get("", 13) >= 13 else 1)
            axis = axis % y.ndim
            if self.opset.get("", 13) >= 13:
                n = y.shape[axis]
                dmax = np.max(self.dz(x), axis=axis, keepdims=True)
            else:
                n = int(np.prod(y.shape[axis:]))
                dmax = np.max(self.dz(x).reshape(y.shape[:axis] + (-1,)), axis=-1)
                dmax = dmax.reshape(dmax.shape + (1,) * (y.ndim - axis))
            # exp to a few ulps, the sum (n terms) and one division, on each side.
            return y * (np.expm1(2 * dmax) + (n + 16) * U * 2) + 4 * TINY
        if same_in:
            if op in ("Sigmoid", "Tanh", "Exp", "Erf", "Log", "Sqrt", "Pow", "ReduceMean", "Resize"):
                y = np.abs(self.q(node.output[0]).astype(np.float64))
                return 16 * U * y + 4 * TINY  # libm-style functions: a few ulps either side
            return None  # an exact or correctly rounded op on identical inputs
        if op in ("Add", "Sub"):
            x1, x2 = ins
            out_shape = self.q(node.output[0]).shape
            d1, d2 = self.dz(x1), self.dz(x2)
            mag = np.broadcast_to(self.absq(x1) + d1, out_shape) + np.broadcast_to(self.absq(x2) + d2, out_shape)
            return d1 + d2 + 2 * U * mag + 2 * TINY
        if op == "Mul":
            x1, x2 = ins
            d1, d2 = self.dz(x1), self.dz(x2)
            a1, a2 = self.absq(x1), self.absq(x2)
            return d1 * a2 + a1 * d2 + d1 * d2 + 2 * U * (a1 + d1) * (a2 + d2) + 2 * TINY
        if op == "Div" and self.D.get(ins[1]) is None:
            den = np.abs(self.q(ins[1]).astype(np.float64))
            return (self.dz(ins[0]) + 2 * U * (self.absq(ins[0]) + self.dz(ins[0]))) / den + 2 * TINY
        if op in ("Relu", "Neg", "Abs", "Identity"):
            return self.D[ins[0]]
        if op in SHAPE_OPS:
            return self.dz(ins[0]).reshape(self.q(node.output[0]).shape)
        if op == "Transpose":
            perm = a.get("perm")
            return np.transpose(self.dz(ins[0]), perm)
        if op == "Concat":
            parts = [self.dz(i) for i in ins]
            return np.concatenate(parts, axis=a["axis"])
        if op == "MaxPool":
            return self.maxpool_bound(a, ins[0])
        if op in MOVEMENT_OPS or (op == "Resize" and _s(a.get("mode", "nearest")) == "nearest"):
            # Each output element is one input element: move the bound the same way.
            return self.same_node_on_bounds(node, ins)
        if op == "Resize":  # linear/cubic: a weighted sum of a few inputs
            dmove = self.same_node_on_bounds(node, ins)
            mag = self.same_node_on_bounds(node, ins, lambda i: self.absq(i) + self.dz(i))
            return dmove + 16 * U * mag + 4 * TINY
        return np.inf  # no propagation rule: any difference downstream is reported unproven

    def same_node_on_bounds(self, node, ins, data=None):
        """Runs this very node in onnxruntime with each float data input replaced by its
        bound (rounded up to float32), other inputs (shapes, indices) as they are."""
        import onnxruntime as ort
        from onnx import helper

        data = data or self.dz
        feeds, vis = {}, []
        for i in dict.fromkeys(ins):
            v = self.q(i)
            if v.dtype.kind == "f" and i in self.live:
                b = np.asarray(data(i), dtype=np.float64)
                v = b.astype(np.float32)
                v = np.where(v.astype(np.float64) < b, np.nextafter(v, np.float32(np.inf)), v)
            feeds[i] = np.ascontiguousarray(v)
            vis.append(helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape))
        outs = [helper.make_tensor_value_info(node.output[0], 1, None)]
        g = helper.make_graph([node], "bound", vis, outs)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset.get("", 13))])
        m.ir_version = self.model.ir_version
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)[0].astype(np.float64)

    def linear_bound(self, node, op, a, ins):
        """|Q - B| <= f(Dx,|w|+Dw) + f(|x|,Dw) + Db + (n+2)u * (f(|x|+Dx,|w|+Dw) + |b|+Db)."""
        import torch
        import torch.nn.functional as F

        x, w = ins[0], ins[1]
        bname = ins[2] if len(ins) > 2 else None
        ax, dx = self.absq(x), self.dz(x)
        aw, dw = self.absq(w), self.dz(w)
        if op == "Gemm":
            alpha, beta = abs(a.get("alpha", 1.0)), abs(a.get("beta", 1.0))
            if a.get("transA", 0):
                ax, dx = ax.T, dx.T
            if a.get("transB", 0):
                aw, dw = aw.T, dw.T
            n = ax.shape[-1] + 1

            def f(u, v):
                return alpha * (u @ v)
        elif op == "MatMul":
            n = ax.shape[-1]
            beta = 1.0

            def f(u, v):
                return np.matmul(u, v)
        else:
            beta = 1.0
            nsp = aw.ndim - 2
            group = a.get("group", 1)
            strides = a.get("strides", [1] * nsp)
            dil = a.get("dilations", [1] * nsp)
            pads = a.get("pads", [0] * 2 * nsp)
            auto = _s(a.get("auto_pad", "NOTSET"))
            if auto == "VALID":
                pads = [0] * 2 * nsp
            elif auto in ("SAME_UPPER", "SAME_LOWER"):
                if op == "ConvTranspose":
                    return np.inf
                pads = [0] * 2 * nsp
                for k in range(nsp):
                    size = ax.shape[2 + k]
                    total = max((-(-size // strides[k]) - 1) * strides[k] + (aw.shape[2 + k] - 1) * dil[k] + 1 - size, 0)
                    small, big = total // 2, total - total // 2
                    pads[k], pads[k + nsp] = (small, big) if auto == "SAME_UPPER" else (big, small)
            n = int(np.prod(aw.shape[1:])) + 1
            if op == "ConvTranspose":
                if list(pads[:nsp]) != list(pads[nsp:]) or nsp not in (1, 2):
                    return np.inf
                n = int(aw.shape[0] // group * np.prod(aw.shape[2:])) + 1
                outpad = a.get("output_padding", [0] * nsp)
                fn = F.conv_transpose1d if nsp == 1 else F.conv_transpose2d
                out_shape = self.q(node.output[0]).shape

                def f(u, v):
                    r = fn(torch.from_numpy(np.ascontiguousarray(u)), torch.from_numpy(np.ascontiguousarray(v)),
                           stride=strides, padding=list(pads[:nsp]), output_padding=outpad, groups=group,
                           dilation=dil).numpy()
                    if r.shape != out_shape:  # explicit output_shape attributes: not handled
                        raise ValueError
                    return r
            else:
                fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nsp]
                tpad = []
                for k in reversed(range(nsp)):
                    tpad += [pads[k], pads[k + nsp]]

                def f(u, v):
                    u = F.pad(torch.from_numpy(np.ascontiguousarray(u)), tpad)
                    return fn(u, torch.from_numpy(np.ascontiguousarray(v)), stride=strides, groups=group,
                              dilation=dil).numpy()
        try:
            mag = f(ax + dx, aw + dw)
            prop = np.zeros_like(mag)  # skip the (slow) zero terms when an input is identical
            if dx.any():
                prop = prop + f(dx, aw + dw)
            if dw.any():
                prop = prop + f(ax, dw)
        except ValueError:
            return np.inf
        if bname is not None:
            bq = self.absq(bname) * beta
            db = self.dz(bname) * beta
            if op in ("Conv", "ConvTranspose"):
                shp = (1, -1) + (1,) * (mag.ndim - 2)
                bq, db = bq.reshape(shp), db.reshape(shp)
            prop = prop + db
            mag = mag + bq + db
        return prop + (n + 2) * U * mag * (1 + 1e-6) + n * TINY

    def avgpool_bound(self, node, op, a, ins):
        import torch
        import torch.nn.functional as F

        x = ins[0]
        ax, dx = self.absq(x), self.dz(x)
        if op == "GlobalAveragePool":
            axes = tuple(range(2, ax.ndim))
            n = int(np.prod([ax.shape[i] for i in axes]))
            return np.mean(dx, axis=axes, keepdims=True) + (n + 2) * U * np.mean(ax + dx, axis=axes, keepdims=True)
        k = a["kernel_shape"]
        nsp = len(k)
        pads = a.get("pads", [0] * 2 * nsp)
        if list(pads[:nsp]) != list(pads[nsp:]) or nsp != 2 or _s(a.get("auto_pad", "NOTSET")) not in ("NOTSET", ""):
            return np.inf
        kw = dict(kernel_size=k, stride=a.get("strides", k), padding=list(pads[:nsp]),
                  ceil_mode=bool(a.get("ceil_mode", 0)), count_include_pad=bool(a.get("count_include_pad", 0)))
        n = int(np.prod(k))

        def f(u):
            return F.avg_pool2d(torch.from_numpy(np.ascontiguousarray(u)), **kw).numpy()

        return f(dx) + (n + 2) * U * f(ax + dx) + n * TINY

    def maxpool_bound(self, a, x):
        import torch
        import torch.nn.functional as F

        k = a["kernel_shape"]
        nsp = len(k)
        pads = a.get("pads", [0] * 2 * nsp)
        if list(pads[:nsp]) != list(pads[nsp:]) or nsp not in (1, 2):
            return np.inf
        fn = F.max_pool1d if nsp == 1 else F.max_pool2d
        return fn(torch.from_numpy(np.ascontiguousarray(self.dz(x))), kernel_size=k, stride=a.get("strides", k),
                  padding=list(pads[:nsp]), dilation=a.get("dilations", [1] * nsp),
                  ceil_mode=bool(a.get("ceil_mode", 0))).numpy()


def _boundary_distance(t, mode):
    """Distance from t to the nearest point where the rounding mode changes its answer
    (inf for non-finite t, which clamps)."""
    with np.errstate(invalid="ignore"):
        fl = np.floor(t)
        if mode in ("ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN"):
            d = np.abs(t - (fl + 0.5))
        else:
            d = np.minimum(t - fl, np.ceil(t) - t)
    return np.where(np.isfinite(t), d, np.inf)


def _same(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    eq = a == b
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        eq = eq | (np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64)))
    return eq
