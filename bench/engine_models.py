"""The models of the engine benchmark (bench_engine.py), built once and cached as QONNX files, and the plain-ONNX
versions of them that onnxruntime runs.

Models (random weights are enough to time an engine; every value still flows through every quantizer):
  jet_6b      the hls4ml jet tagger exported from QKeras (../shared/models/jettagging_qkeras_6b.onnx), 16 inputs
  tfc_w1a1    Brevitas bnn_pynq TFC (3 x 64 fully connected), binary weights and activations, 28x28 input
  tfc_w2a2    the same with 2-bit weights and activations
  cnv_w1a1    Brevitas bnn_pynq CNV (6 conv + 3 fc, VGG-like), binary, 3x32x32 input
  cnv_w2a2    the same with 2-bit weights and activations
  resnet8_w4a4  a CIFAR-size ResNet-8 (16/32/64 channels, 3 residual blocks) in brevitas.nn, 4-bit weights and
              activations, 8-bit input and classifier input
  mobilenet_v1_w4a4  Brevitas' imagenet_classification MobileNet-v1 (quant_mobilenet_v1_4b: 4-bit, first and last
              layer 8-bit), 3x224x224 input
Each Brevitas model gets its batch-norm statistics from a few training-mode passes over random inputs (so that
activations spread over the quantizer ranges instead of sitting at one level), is exported with Brevitas'
export_qonnx at batch 1 and cleaned with qonnx.util.cleanup. The builders are seeded, so rebuilding the PyTorch
module (for the PyTorch runner) gives the weights of the cached file.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / "build" / "bench-models"
SHARED = ROOT.parent / "shared" / "models"
VERSION = 1  # bump to rebuild every cached file after a change to a builder


# ------------------------------------------------------------------------------------------------ inputs


def images(shape, n, seed=0):
    """Pixel values k/255 in [0, 1], as the bnn_pynq models expect."""
    return (np.random.default_rng(seed).integers(0, 256, (n,) + tuple(shape)) / 255.0).astype(np.float32)


def standardized(shape, n, seed=0):
    """Mean 0, variance 1: standardized jet features."""
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype(np.float32)


def imagenet(shape, n, seed=0):
    """Normalized ImageNet pixels as a data loader gives them: (k/255 - mean_c) / std_c, NCHW."""
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1)
    k = np.random.default_rng(seed).integers(0, 256, (n,) + tuple(shape)).astype(np.float32)
    return ((k / np.float32(255) - mean) / std).astype(np.float32)


# ------------------------------------------------------------------------------------------------ specs


@dataclass(frozen=True)
class Spec:
    key: str
    shape: tuple  # one sample, without the batch dimension
    big_batch: int
    bits: int  # the nominal width of weights and activations (first/last layers may be wider)
    inputs: Callable  # (shape, n) -> float32 array
    torch_builder: Callable | None  # () -> torch.nn.Module in eval mode, or None (not a Brevitas model)
    note: str = ""


def _bnn_pynq(name):
    def build():
        from brevitas_examples.bnn_pynq.models import model_with_cfg

        return _calibrated(lambda: model_with_cfg(name, False)[0], SPECS_BY_NAME[name].shape, images)

    return build


def _mobilenet():
    from brevitas_examples.imagenet_classification.models import model_with_cfg

    return _calibrated(lambda: model_with_cfg("quant_mobilenet_v1_4b")[0], (3, 224, 224), imagenet, batch=8)


def _resnet8():
    return _calibrated(_resnet8_module, (3, 32, 32), images)


def _calibrated(make, shape, inputs, batch=64, passes=3):
    """A seeded module whose batch-norm statistics and activation scales come from training-mode passes."""
    import torch

    torch.manual_seed(0)
    module = make()
    module.train()
    with torch.no_grad():
        for i in range(passes):
            module(torch.from_numpy(inputs(shape, batch, seed=100 + i)))
    return module.eval()


def _resnet8_module():
    import brevitas.nn as qnn
    import torch.nn as nn

    w4 = dict(weight_bit_width=4, bias=False)

    class Block(nn.Module):
        """conv-bn-relu, conv-bn, plus the (projected) shortcut; both summands quantized (signed 4-bit) before the
        add, the sum quantized by a 4-bit ReLU."""

        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = qnn.QuantConv2d(cin, cout, 3, stride=stride, padding=1, **w4)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu1 = qnn.QuantReLU(bit_width=4)
            self.conv2 = qnn.QuantConv2d(cout, cout, 3, padding=1, **w4)
            self.bn2 = nn.BatchNorm2d(cout)
            self.q2 = qnn.QuantIdentity(bit_width=4)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(qnn.QuantConv2d(cin, cout, 1, stride=stride, **w4), nn.BatchNorm2d(cout),
                                           qnn.QuantIdentity(bit_width=4))
            self.relu_out = qnn.QuantReLU(bit_width=4)

        def forward(self, x):
            y = self.q2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
            return self.relu_out(y + (x if self.short is None else self.short(x)))

    class ResNet8(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(bit_width=8)
            self.stem = nn.Sequential(qnn.QuantConv2d(3, 16, 3, padding=1, weight_bit_width=8, bias=False),
                                      nn.BatchNorm2d(16), qnn.QuantReLU(bit_width=4))
            self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.pool = nn.AvgPool2d(8)
            self.head_q = qnn.QuantIdentity(bit_width=8)
            self.fc = qnn.QuantLinear(64, 10, bias=True, weight_bit_width=8)

        def forward(self, x):
            x = self.pool(self.blocks(self.stem(self.inp(x))))
            return self.fc(self.head_q(x.flatten(1)))

    return ResNet8()


SPECS = [
    Spec("jet_6b", (16,), 4096, 6, standardized, None, "QKeras export, 6-bit"),
    Spec("tfc_w1a1", (1, 28, 28), 4096, 1, images, _bnn_pynq("tfc_1w1a")),
    Spec("tfc_w2a2", (1, 28, 28), 4096, 2, images, _bnn_pynq("tfc_2w2a")),
    Spec("cnv_w1a1", (3, 32, 32), 256, 1, images, _bnn_pynq("cnv_1w1a"), "8-bit input layer"),
    Spec("cnv_w2a2", (3, 32, 32), 256, 2, images, _bnn_pynq("cnv_2w2a"), "8-bit input layer"),
    Spec("resnet8_w4a4", (3, 32, 32), 256, 4, images, _resnet8, "8-bit stem and classifier"),
    Spec("mobilenet_v1_w4a4", (3, 224, 224), 32, 4, imagenet, _mobilenet, "8-bit first and last layer"),
]
SPECS_BY_KEY = {s.key: s for s in SPECS}
# bnn_pynq config names -> specs, for the input shape
SPECS_BY_NAME = {"tfc_1w1a": SPECS_BY_KEY["tfc_w1a1"], "tfc_2w2a": SPECS_BY_KEY["tfc_w2a2"],
                 "cnv_1w1a": SPECS_BY_KEY["cnv_w1a1"], "cnv_2w2a": SPECS_BY_KEY["cnv_w2a2"]}


# ------------------------------------------------------------------------------------------------ building


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress lines and warnings on every export; the benchmark's output should not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield


class Unavailable(Exception):
    """A model that cannot be built here (e.g. its source file is absent); the message says why."""


def model_path(key: str, cache: Path = CACHE) -> Path:
    """The cached QONNX file of model `key` (batch 1), built on first use."""
    spec = SPECS_BY_KEY[key]
    path = cache / f"{key}.v{VERSION}.onnx"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    from qonnx.util.cleanup import cleanup

    if spec.torch_builder is None:
        src = SHARED / "jettagging_qkeras_6b.onnx"
        if not src.exists():
            raise Unavailable(f"{key}: skipped, {src} not found (the shared model directory is absent)")
        shutil.copyfile(src, tmp)
    else:
        import torch
        from brevitas.export import export_qonnx

        module = spec.torch_builder()
        with _quiet(), torch.no_grad():
            export_qonnx(module, torch.from_numpy(spec.inputs(spec.shape, 1)), export_path=str(tmp))
    with _quiet():
        cleanup(str(tmp), out_file=str(tmp))  # the cleaned file holds every weight itself
    Path(f"{tmp}.data").unlink(missing_ok=True)  # torch.onnx's external weights, now inlined
    os.replace(tmp, path)  # atomic: a half-written file is never taken for a cached one
    return path


def torch_module(key: str):
    """The Brevitas module of model `key` (same seed, same weights as the cached file), or None."""
    spec = SPECS_BY_KEY[key]
    return None if spec.torch_builder is None else spec.torch_builder()


# ------------------------------------------------------------------------------------------------ plain ONNX


def with_batch(path, batch):
    """qonnx's cleanup with the batch dimension set (qonnx's executor, onnxruntime and hls4ml need fixed shapes)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    with _quiet():
        return cleanup_model(ModelWrapper(str(path)), override_inpsize=batch)


def _attrs(node):
    out = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    mode = out.get("rounding_mode", b"ROUND")
    out["rounding_mode"] = (mode.decode() if isinstance(mode, bytes) else mode).upper()
    return out


def _int_range(bits, signed, narrow):
    if signed:
        return -(2 ** (bits - 1)) + (1 if narrow else 0), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - (1 if narrow else 0)


_ROUND_OPS = {"ROUND": "Round", "HALF_EVEN": "Round", "FLOOR": "Floor", "CEIL": "Ceil"}


class _Writer:
    """Adds constants and nodes for one rewritten node, with names derived from its output."""

    def __init__(self, graph, node):
        self.graph, self.nodes, self.n = graph, [], 0
        self.base = (node.name or node.output[0]).replace("/", "_").replace(":", "_")

    def const(self, value, dtype=np.float32):
        name = f"{self.base}__c{self.n}"
        self.n += 1
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, out=None, **attrs):
        if out is None:
            out = f"{self.base}__t{self.n}"
            self.n += 1
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _sign(w, x, s, z, out):
    """Bipolar quantization: (x/s + z >= 0 ? +1 : -1) - z, times s, as qonnx computes it (z = 0 for BipolarQuant)."""
    t = w.op("Add", [w.op("Div", [x, w.const(s)]), w.const(z)]) if np.any(z) else x
    pos = w.op("GreaterOrEqual", [t, w.const(0.0)])
    return w.op("Where", [pos, w.const((1 - z) * s), w.const((-1 - z) * s)], out)


def _float_quant(w, model, node):
    """Quant / BipolarQuant / Trunc on an activation, in standard float32 ops that follow qonnx's formula step by
    step (so onnxruntime computes what qonnx's executor computes)."""
    init = model.get_initializer
    a = _attrs(node)
    x, out = node.input[0], node.output[0]
    if node.op_type == "BipolarQuant":
        return _sign(w, x, init(node.input[1]), np.float32(0), out)
    if node.op_type == "Quant":
        s, z, bits = (init(n) for n in node.input[1:4])
        bits = int(np.asarray(bits).item())
        if bits == 1 and a.get("signed", 1):
            return _sign(w, x, s, z, out)
        lo, hi = _int_range(bits, a.get("signed", 1), a.get("narrow", 0))
        t = w.op("Clip", [w.op("Add", [w.op("Div", [x, w.const(s)]), w.const(z)]), w.const(lo), w.const(hi)])
        q = w.op(_ROUND_OPS[a["rounding_mode"]], [t])
        return w.op("Mul", [w.op("Sub", [q, w.const(z)]), w.const(s)], out)
    if node.op_type == "Trunc" and len(node.input) == 6:  # v2: inputs x, s, z, in_bw, out_scale, out_bw
        s, z, _, out_s, out_bw = (init(n) for n in node.input[1:6])
        k = 2.0 ** np.round(np.log2(out_s / s))
        lo, hi = _int_range(int(np.asarray(out_bw).item()), a.get("signed", 1), a.get("narrow", 0))
        t = w.op("Round", [w.op("Add", [w.op("Div", [x, w.const(s)]), w.const(z)])])
        t = w.op("Clip", [w.op("Div", [t, w.const(k)]), w.const(lo), w.const(hi)])
        q = w.op(_ROUND_OPS[a.get("rounding_mode", "FLOOR")], [t])
        return w.op("Mul", [w.op("Sub", [q, w.const(z / k)]), w.const(out_s)], out)
    if node.op_type == "Trunc":  # v1: inputs x, s, z, in_bw, out_bw; no clamp
        s, z, in_bw, out_bw = (init(n) for n in node.input[1:5])
        k = 2.0 ** (np.asarray(in_bw) - np.asarray(out_bw))
        t = w.op("Round", [w.op("Add", [w.op("Div", [x, w.const(s)]), w.const(z)])])
        q = w.op(_ROUND_OPS[a.get("rounding_mode", "FLOOR")], [w.op("Div", [t, w.const(k)])])
        return w.op("Mul", [w.op("Sub", [q, w.const(z)]), w.const(s)], out)
    raise ValueError(f"no standard-op form for {node.op_type}")


_QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")


def _check_params(model, node):
    for name in node.input[1:]:
        if model.get_initializer(name) is None:
            raise ValueError(f"{node.op_type} {node.name or node.output[0]} has non-constant parameters")
    if node.op_type != "BipolarQuant" and _attrs(node)["rounding_mode"] not in _ROUND_OPS:
        raise ValueError(f"rounding mode {_attrs(node)['rounding_mode']} has no single standard ONNX op")


def _finish(model):
    for opset in model.model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < 13:
            opset.version = 13  # Clip with tensor bounds, Round, GreaterOrEqual
    proto = model.model
    # only standard-domain imports remain meaningful
    keep = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    onnx.checker.check_model(proto)
    return proto


def float_model(path, batch):
    """Recipe "ORT float": qonnx's cleanup folds every Quant on a constant (weights, biases) into a float32
    initializer; every remaining quantizer becomes standard float32 ops (Div, Add, Clip, Round, Sub, Mul;
    GreaterOrEqual/Where for binary ones). Returns an onnx.ModelProto."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    with _quiet():
        model = cleanup_model(ModelWrapper(str(path)), preserve_qnt_ops=False, override_inpsize=batch)
    nodes = []
    for node in model.graph.node:
        if node.op_type not in _QUANT_OPS:
            nodes.append(node)
            continue
        _check_params(model, node)
        w = _Writer(model.graph, node)
        _float_quant(w, model, node)
        nodes.extend(w.nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return _finish(model)


def _is_bias(node, consumers):
    """A quantizer whose output is the bias input of a Conv or Gemm (Brevitas' 32-bit bias quantization)."""
    return any(c.op_type in ("Conv", "Gemm") and i == 2 for c, i in consumers.get(node.output[0], []))


def _bits(model, node):
    return int(np.asarray(model.get_initializer(node.input[3])).item())


def max_width(path):
    """The widest Quant on weights or activations (biases, whose Quant is a constant of the bias add, excluded),
    1 for binary ones; Trunc counts its output width."""
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    consumers = {}
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            consumers.setdefault(name, []).append((n, i))
    widest = 0
    for n in model.graph.node:
        if n.op_type == "BipolarQuant":
            widest = max(widest, 1)
        elif n.op_type == "Quant":
            if n.input[0] in inits and _is_bias(n, consumers):
                continue
            widest = max(widest, int(np.asarray(inits[n.input[3]]).item()))
        elif n.op_type == "Trunc":
            widest = max(widest, int(np.asarray(inits[n.input[-1]]).item()))
    return widest


def qdq_model(path, batch):
    """Recipe "ORT QDQ int8": the form onnxruntime's int8 kernels are selected from.
      - Quant on a weight (a constant, <= 8 bits, zero point 0): an int8 initializer holding the integers, then
        DequantizeLinear with the (per-tensor or per-channel) scale; BipolarQuant weights: +-1 the same way.
      - Quant on an activation (2..8 bits, ROUND, zero point 0): qonnx's QuantToQCDQ form QuantizeLinear -> Clip
        (in the integer domain, for narrow/sub-8-bit ranges) -> DequantizeLinear.
      - binary activations: GreaterOrEqual/Where to +-s, then QuantizeLinear/DequantizeLinear with scale s (exact).
      - other constants' Quant (32-bit biases) folded to float; Trunc written in float ops (as in float_model).
    onnxruntime (graph optimizations on) fuses DequantizeLinear -> Conv/Gemm/MatMul -> QuantizeLinear groups into
    integer kernels. Raises ValueError when a weight or activation is wider than 8 bits."""
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ

    if max_width(path) > 8:
        raise ValueError(f"widths above 8 bits ({max_width(path)})")
    model = with_batch(path, batch)
    init = model.get_initializer
    consumers = {}
    for n in model.graph.node:
        for i, name in enumerate(n.input):
            consumers.setdefault(name, []).append((n, i))
    nodes = []
    for node in model.graph.node:
        if node.op_type not in _QUANT_OPS:
            nodes.append(node)
            continue
        _check_params(model, node)
        w = _Writer(model.graph, node)
        x = init(node.input[0])
        a = _attrs(node)
        if node.op_type == "Trunc":
            _float_quant(w, model, node)
        elif x is not None:  # a constant: weight or bias
            s = init(node.input[1])
            if node.op_type == "BipolarQuant":
                q, z, bits, signed = np.where(x / s >= 0, 1, -1), 0.0, 1, 1
            else:
                z, bits = init(node.input[2]), int(np.asarray(init(node.input[3])).item())
                signed = a.get("signed", 1)
                if bits == 1 and signed:
                    q = np.where(x / s + z >= 0, 1, -1)
                else:
                    lo, hi = _int_range(bits, signed, a.get("narrow", 0))
                    q = np.round(np.clip(x / s + z, lo, hi))  # weights: float32 numpy, qonnx's own formula
            is_bias = _is_bias(node, consumers)
            if bits > 8 or is_bias or np.any(z):
                model.graph.initializer.append(numpy_helper.from_array(((q - z) * s).astype(np.float32),
                                                                       node.output[0]))
            else:
                _dequantize_weight(w, q, s, node.output[0], signed)
        elif node.op_type == "BipolarQuant" or (_bits(model, node) == 1 and a.get("signed", 1)):
            s = init(node.input[1])
            z = np.float32(0) if node.op_type == "BipolarQuant" else init(node.input[2])
            if np.any(z) or np.asarray(s).size != 1:
                raise ValueError("binary activation with a zero point or per-channel scale")
            pm = _sign(w, node.input[0], s, z, None)
            sc, zp = w.const(np.float32(np.asarray(s).item())), w.const(np.int8(0), np.int8)
            w.op("DequantizeLinear", [w.op("QuantizeLinear", [pm, sc, zp]), sc, zp], node.output[0])
        else:
            w.nodes.append(node)  # QuantToQCDQ below
        nodes.extend(w.nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    with _quiet():
        model = model.transform(QuantToQCDQ())
    left = [n for n in model.graph.node if n.op_type in _QUANT_OPS]
    if left:
        raise ValueError(f"{len(left)} quantizer(s) not expressible as QDQ (e.g. {left[0].op_type} "
                         f"{left[0].name or left[0].output[0]})")
    return _finish(model)


def _dequantize_weight(w, q, s, out, signed):
    s = np.asarray(s, dtype=np.float32)
    dtype = np.int8 if signed else np.uint8
    qi = w.const(q.astype(dtype), dtype)
    if s.size == 1:
        sc, zp, axis = w.const(np.float32(s.item())), w.const(dtype(0), dtype), {}
    else:
        axis_ = [i for i, d in enumerate(s.shape) if d != 1]
        if len(axis_) != 1:
            raise ValueError(f"weight scale of shape {s.shape} is not per-tensor or per-channel")
        sc = w.const(s.reshape(-1))
        zp = w.const(np.zeros(s.size, dtype), dtype)
        axis = {"axis": axis_[0]}
    w.op("DequantizeLinear", [qi, sc, zp], out, **axis)
