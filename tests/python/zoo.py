"""A zoo of tiny Brevitas models exported to QONNX, for the differential tests.

Each entry builds a small network (inputs like 1x3x8x8), calibrates its activation
quantizers with a few training-mode passes, and exports it with
brevitas.export.export_qonnx. Together they cover per-tensor and per-channel, power-of-
two and arbitrary float scales, signed/unsigned/narrow, bit widths 1..8 and 16, the
rounding modes Brevitas exports (ROUND, FLOOR, CEIL), non-zero zero points, BipolarQuant,
Trunc, FloatQuant, residual Add, Concat, depthwise/1-D/transposed convolution, BatchNorm,
MaxPool and Softmax. `exported(name, folder)` caches files per folder (a pytest session
tmp dir)."""

import os
import sys
import types
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:  # the test modules skip when torch/brevitas are missing
    torch = None


def _brevitas():
    """Import Brevitas and let its exporter run without onnxoptimizer: the TorchScript
    path only calls onnxoptimizer's 'eliminate_unused_initializer', which qonnx's
    cleanup does too, and Brevitas disables export entirely when the import fails."""
    import onnx

    import brevitas.export.onnx.manager  # noqa: F401

    mgr = sys.modules["brevitas.export.onnx.manager"]
    if mgr.opt is None:
        mgr.onnx = onnx
        mgr.opt = types.SimpleNamespace(optimize=lambda model, passes: model)
    import brevitas.nn as qnn

    return qnn


@dataclass
class ZooModel:
    name: str
    build: Callable  # () -> torch.nn.Module (uncalibrated)
    input_shape: tuple
    tags: tuple = field(default_factory=tuple)
    input_scale: float = 2.0  # inputs are normal(0, input_scale)
    post: Callable = None  # edits the exported onnx.ModelProto (modes Brevitas cannot export)

    def inputs(self, n, seed):
        rng = np.random.default_rng(seed)
        return [(rng.standard_normal(self.input_shape) * self.input_scale).astype(np.float32) for _ in range(n)]


class _Seq(nn.Module if torch else object):
    def __init__(self, *mods):
        super().__init__()
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        return self.body(x)


def _randomize_bn(bn, gen):
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen) * 0.5)
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.weight.copy_(torch.randn(bn.num_features, generator=gen))
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen) * 0.3)


# ------------------------------------------------------------------ builders


def conv_per_tensor_float():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, weight_bit_width=4, bias=True),
                qnn.QuantReLU(bit_width=4))


def conv_per_channel_float():
    qnn = _brevitas()
    from brevitas.quant import Int8WeightPerChannelFloat, Uint8ActPerTensorFloat

    return _Seq(qnn.QuantIdentity(bit_width=6, return_quant_tensor=True),
                qnn.QuantConv2d(3, 5, 3, padding=1, weight_quant=Int8WeightPerChannelFloat, weight_bit_width=5),
                qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=7))


def conv_power_of_two():
    qnn = _brevitas()
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint,
                                Uint8ActPerTensorFixedPoint)

    return _Seq(qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, stride=2, padding=1, weight_quant=Int8WeightPerTensorFixedPoint, bias=False),
                qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
                qnn.QuantConv2d(4, 2, 3, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4, bias=False),
                qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint))


def linear_bits(bits):
    def build():
        qnn = _brevitas()
        if bits == 1:  # float-scale quantizers degenerate at 1 bit (scale = max/0): use the binary ones
            from brevitas.quant import SignedBinaryActPerTensorConst as A, SignedBinaryWeightPerTensorConst as W

            return _Seq(qnn.QuantIdentity(act_quant=A, return_quant_tensor=True),
                        qnn.QuantLinear(16, 8, bias=False, weight_quant=W),
                        qnn.QuantIdentity(act_quant=A, return_quant_tensor=True),
                        qnn.QuantLinear(8, 4, bias=False, weight_quant=W),
                        qnn.QuantIdentity(act_quant=A))
        return _Seq(qnn.QuantIdentity(bit_width=bits, return_quant_tensor=True),
                    qnn.QuantLinear(16, 8, bias=True, weight_bit_width=bits),
                    qnn.QuantReLU(bit_width=bits, return_quant_tensor=True),
                    qnn.QuantLinear(8, 4, bias=False, weight_bit_width=bits),
                    qnn.QuantIdentity(bit_width=bits))

    return build


def narrow_signed_unsigned():
    qnn = _brevitas()
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat, Uint8ActPerTensorFloat

    return _Seq(qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, narrow_range=True, bit_width=5,
                                  return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, weight_quant=Int8WeightPerTensorFloat, weight_narrow_range=False,
                                weight_bit_width=3),
                qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, narrow_range=True, bit_width=4))


def rounding(mode):
    def build():
        qnn = _brevitas()
        from brevitas.inject.enum import FloatToIntImplType

        impl = getattr(FloatToIntImplType, mode)
        return _Seq(qnn.QuantIdentity(bit_width=6, float_to_int_impl_type=impl, return_quant_tensor=True),
                    qnn.QuantConv2d(3, 4, 3, weight_bit_width=4),
                    qnn.QuantReLU(bit_width=5, float_to_int_impl_type=impl))

    return build


def shifted_zero_point():
    qnn = _brevitas()
    from brevitas.quant import ShiftedUint8ActPerTensorFloat, ShiftedUint8WeightPerTensorFloat

    return _Seq(qnn.QuantIdentity(act_quant=ShiftedUint8ActPerTensorFloat, return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, weight_quant=ShiftedUint8WeightPerTensorFloat, weight_bit_width=6),
                qnn.QuantIdentity(act_quant=ShiftedUint8ActPerTensorFloat, bit_width=5))


def binary():
    qnn = _brevitas()
    from brevitas.quant import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst

    return _Seq(qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True),
                qnn.QuantConv2d(3, 6, 3, weight_quant=SignedBinaryWeightPerTensorConst, bias=False),
                qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst, return_quant_tensor=True),
                qnn.QuantConv2d(6, 2, 3, weight_quant=SignedBinaryWeightPerTensorConst, bias=False))


def trunc_avgpool():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, padding=1, weight_bit_width=4, bias=False),
                qnn.QuantReLU(bit_width=6, return_quant_tensor=True),
                qnn.TruncAvgPool2d(kernel_size=2, stride=2, bit_width=6),
                qnn.QuantIdentity(bit_width=8))


def float_quant(kind):
    def build():
        qnn = _brevitas()
        from brevitas.quant.experimental import float_quant_ocp as ocp

        if kind == "e4m3":
            wq, aq = ocp.Fp8e4m3OCPWeightPerTensorFloat, ocp.Fp8e4m3OCPActPerTensorFloat
        elif kind == "e5m2":
            wq, aq = ocp.Fp8e5m2OCPWeightPerTensorFloat, ocp.Fp8e5m2OCPActPerTensorFloat
        else:  # FP4 E2M1 (OCP MX element type), derived from the OCP FP8 quantizers
            wq = ocp.Fp8e4m3OCPWeightPerTensorFloat.let(exponent_bit_width=2, mantissa_bit_width=1)
            aq = ocp.Fp8e4m3OCPActPerTensorFloat.let(exponent_bit_width=2, mantissa_bit_width=1)
        return _Seq(qnn.QuantIdentity(act_quant=aq, return_quant_tensor=True),
                    qnn.QuantConv2d(3, 4, 3, weight_quant=wq, bias=False),
                    qnn.QuantIdentity(act_quant=aq))

    return build


class _Residual(nn.Module if torch else object):
    def __init__(self):
        super().__init__()
        qnn = _brevitas()
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.c1 = qnn.QuantConv2d(3, 3, 3, padding=1, weight_bit_width=4)
        self.r1 = qnn.QuantReLU(bit_width=6, return_quant_tensor=True)
        self.c2 = qnn.QuantConv2d(3, 3, 3, padding=1, weight_bit_width=4)
        self.q2 = qnn.QuantIdentity(bit_width=8)
        self.out = qnn.QuantReLU(bit_width=8)

    def forward(self, x):
        x = self.inp(x)
        y = self.q2(self.c2(self.r1(self.c1(x))))
        return self.out(y + x.value)


class _Concat(nn.Module if torch else object):
    def __init__(self):
        super().__init__()
        qnn = _brevitas()
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.a = qnn.QuantConv2d(3, 2, 3, padding=1, weight_bit_width=4)
        self.b = qnn.QuantConv2d(3, 3, 1, weight_bit_width=5)
        self.qa = qnn.QuantIdentity(bit_width=6)
        self.qb = qnn.QuantIdentity(bit_width=6)
        self.c = qnn.QuantConv2d(5, 2, 3, weight_bit_width=4)
        self.qc = qnn.QuantReLU(bit_width=4)

    def forward(self, x):
        x = self.inp(x)
        y = torch.cat([self.qa(self.a(x)), self.qb(self.b(x))], dim=1)
        return self.qc(self.c(y))


def depthwise():
    qnn = _brevitas()
    from brevitas.quant import Int8WeightPerChannelFloat

    return _Seq(qnn.QuantIdentity(bit_width=7, return_quant_tensor=True),
                qnn.QuantConv2d(3, 3, 3, groups=3, padding=1, weight_quant=Int8WeightPerChannelFloat, weight_bit_width=4),
                qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
                qnn.QuantConv2d(3, 6, 3, groups=3, stride=2, weight_bit_width=3),
                qnn.QuantIdentity(bit_width=8))


def conv1d():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantConv1d(3, 4, 3, padding=1, weight_bit_width=5),
                qnn.QuantReLU(bit_width=5, return_quant_tensor=True),
                qnn.QuantConv1d(4, 2, 5, stride=2, dilation=1, weight_bit_width=4),
                qnn.QuantIdentity(bit_width=8))


def conv_transpose():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantConvTranspose2d(3, 4, 3, stride=2, padding=1, weight_bit_width=4),
                qnn.QuantIdentity(bit_width=6))


class _BatchNorm(_Seq):
    def __init__(self):
        qnn = _brevitas()
        gen = torch.Generator().manual_seed(7)
        bn = nn.BatchNorm2d(4)
        _randomize_bn(bn, gen)
        super().__init__(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                         qnn.QuantConv2d(3, 4, 3, weight_bit_width=4, bias=False),
                         bn,
                         qnn.QuantReLU(bit_width=4))


def maxpool():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantConv2d(3, 4, 3, padding=1, weight_bit_width=4),
                qnn.QuantReLU(bit_width=4, return_quant_tensor=True),
                nn.MaxPool2d(2),
                nn.Flatten(),
                qnn.QuantLinear(64, 5, weight_bit_width=4, bias=True),
                qnn.QuantIdentity(bit_width=8))


def softmax():
    qnn = _brevitas()
    return _Seq(qnn.QuantIdentity(bit_width=8, return_quant_tensor=True),
                qnn.QuantLinear(16, 8, weight_bit_width=6, bias=True),
                qnn.QuantReLU(bit_width=6, return_quant_tensor=True),
                qnn.QuantLinear(8, 5, weight_bit_width=6, bias=True),
                nn.Softmax(dim=-1))


def set_rounding_mode(mode):
    """Rewrites every FLOOR activation quantizer to `mode`: Brevitas exports only ROUND,
    FLOOR and CEIL, QONNX also has HALF_UP, HALF_DOWN, UP and DOWN."""

    def post(model):
        for node in model.graph.node:
            for a in node.attribute:
                if a.name == "rounding_mode" and a.s.upper() == b"FLOOR":
                    a.s = mode.encode()

    return post


IMG = (1, 3, 8, 8)
ZOO = [
    ZooModel("conv_per_tensor_float", conv_per_tensor_float, IMG, ("conv",)),
    ZooModel("conv_per_channel_float", conv_per_channel_float, IMG, ("conv", "per_channel")),
    ZooModel("conv_power_of_two", conv_power_of_two, IMG, ("conv", "pot")),
    *[ZooModel(f"linear_{b}bit", linear_bits(b), (1, 16), ("linear",)) for b in (1, 2, 3, 4, 5, 6, 7, 8, 16)],
    ZooModel("narrow_signed_unsigned", narrow_signed_unsigned, IMG, ("conv", "narrow")),
    ZooModel("rounding_floor", rounding("FLOOR"), IMG, ("conv", "rounding")),
    ZooModel("rounding_ceil", rounding("CEIL"), IMG, ("conv", "rounding")),
    *[ZooModel(f"rounding_{m.lower()}", rounding("FLOOR"), IMG, ("conv", "rounding"), post=set_rounding_mode(m))
      for m in ("HALF_UP", "HALF_DOWN", "UP", "DOWN")],
    ZooModel("shifted_zero_point", shifted_zero_point, IMG, ("conv", "zero_point")),
    ZooModel("binary", binary, IMG, ("conv", "bipolar")),
    ZooModel("trunc_avgpool", trunc_avgpool, IMG, ("conv", "trunc")),
    ZooModel("fp8_e4m3", float_quant("e4m3"), IMG, ("conv", "float_quant")),
    ZooModel("fp8_e5m2", float_quant("e5m2"), IMG, ("conv", "float_quant")),
    ZooModel("fp4_e2m1", float_quant("e2m1"), IMG, ("conv", "float_quant")),
    ZooModel("residual_add", _Residual, IMG, ("conv", "add")),
    ZooModel("concat", _Concat, IMG, ("conv", "concat")),
    ZooModel("depthwise", depthwise, IMG, ("conv", "depthwise")),
    ZooModel("conv1d", conv1d, (1, 3, 16), ("conv1d",)),
    ZooModel("conv_transpose", conv_transpose, IMG, ("conv_transpose",)),
    ZooModel("batchnorm", _BatchNorm, IMG, ("conv", "batchnorm")),
    ZooModel("maxpool", maxpool, IMG, ("conv", "maxpool", "linear")),
    ZooModel("softmax", softmax, (1, 16), ("linear", "softmax")),
]
BY_NAME = {m.name: m for m in ZOO}


def build_calibrated(spec: ZooModel):
    torch.manual_seed(zlib.crc32(spec.name.encode()))
    model = spec.build()
    # A few training-mode passes initialise the statistics-based activation scales.
    model.train()
    with torch.no_grad():
        for x in spec.inputs(4, seed=1234):
            model(torch.from_numpy(x))
    model.eval()
    return model


def export(spec: ZooModel, path: str) -> str:
    from brevitas.export import export_qonnx

    model = build_calibrated(spec)
    x = torch.from_numpy(spec.inputs(1, seed=99)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # TorchScript exporter: ~20x faster than dynamo here and it writes the same ops.
        try:
            export_qonnx(model, x, export_path=path, dynamo=False, keep_initializers_as_inputs=False)
        except Exception:
            export_qonnx(model, x, export_path=path, dynamo=True)
    if spec.post is not None:
        import onnx

        proto = onnx.load(path)
        spec.post(proto)
        onnx.save(proto, path)
    return path


def exported(name: str, folder: str) -> str:
    """Path of the exported model `name` in `folder`, exporting it on first use."""
    path = os.path.join(str(folder), name + ".onnx")
    if not os.path.exists(path):
        export(BY_NAME[name], path + ".tmp")
        os.replace(path + ".tmp", path)
    return path
