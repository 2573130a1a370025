"""The Brevitas backend of ModelQuantizer: bitsmith specs -> Brevitas quantizers and layers.

``QuantizationConfig(..., backend="brevitas")`` makes ``quantize_model`` build brevitas.nn
layers (QuantLinear, QuantConv1d/2d, QuantConvTranspose2d, QuantReLU, QuantHardTanh,
QuantSigmoid, QuantTanh, QuantIdentity) instead of bitsmith.nn ones. This module is the ONE
home of the spec -> Brevitas quantizer mapping (``weight_quantizer`` / ``act_quantizer``);
tests that compare the two front ends build their Brevitas side through it.

Mapping (docs/model_quantizer.md, "Backends"):
- bits/signed/narrow -> bit_width/signed/narrow_range; the scale divides the statistic by
  the largest level (bitsmith's rule; Brevitas' default divides signed ranges by 2^(b-1)),
  so the same statistic gives the same scale;
- per_tensor / per_channel (weights: the layer's output-channel axis) -> scaling_per_output_channel;
- scale 'float' / 'po2' -> restrict_scaling_type FP / POWER_OF_TWO, rounded up (CeilSte);
- scale_stats minmax / percentile / mse / const -> StatsOp MAX / PERCENTILE, Brevitas' MSE
  quantizers (its own search, not bitsmith's), or a constant scale that is exactly const_scale;
- learned_scale -> PARAMETER_FROM_STATS; learned_bits -> a learned bit width;
- rounding ROUND/HALF_EVEN, FLOOR, CEIL -> Brevitas' ROUND, FLOOR, CEIL.
Everything else is refused with :class:`UnsupportedSpec` naming the setting (ModelQuantizer
prefixes the module path). brevitas is imported on first use.
"""

from __future__ import annotations

from typing import Optional

from .model_quantizer import QuantizerBackend, UnsupportedSpec
from .quant import IntQuant

__all__ = ["BrevitasBackend", "weight_quantizer", "act_quantizer", "is_brevitas_model", "export_brevitas_qonnx",
           "calibrate_brevitas"]

# bitsmith rounding -> Brevitas FloatToIntImplType name; the rest have no Brevitas equivalent
# that exports to a QONNX rounding_mode (Brevitas' ROUND_TO_ZERO is written under that name,
# which QONNX does not define, so DOWN is refused too).
_ROUNDING = {"ROUND": "ROUND", "HALF_EVEN": "ROUND", "FLOOR": "FLOOR", "CEIL": "CEIL"}
# MSE is not a StatsOp in Brevitas but a quantizer mixin (the *FloatMSE quantizers).
_STATS_OP = {"minmax": "MAX", "percentile": "PERCENTILE"}


def _brevitas():
    try:
        import brevitas  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("backend='brevitas' needs the brevitas package (pip install brevitas); "
                          "use backend='native' without it") from e
    import brevitas.nn as bnn

    return bnn


def _max_level_cls():
    """Brevitas' int_scaling_impl with bitsmith's rule: scale = statistic / largest level."""
    from torch import nn
    from brevitas.function.ops import max_int

    class MaxLevelScaling(nn.Module):
        def __init__(self, narrow_range: bool, signed: Optional[bool] = None):
            super().__init__()
            self.signed, self.narrow_range = signed, narrow_range

        def forward(self, bit_width, signed=None):
            s = self.signed if signed is None else signed
            return max_int(bool(s), self.narrow_range, bit_width)

    return MaxLevelScaling


_cache: dict = {}


def _cached(key, make):
    if key not in _cache:
        _cache[key] = make()
    return _cache[key]


def _po2_up_cls():
    """Rounds a scale up to a power of two with bitsmith's own rule (fake_quant._po2_up);
    the gradient passes straight through, as Brevitas' CeilSte does."""
    from torch import nn

    from .fake_quant import _po2_up

    class Po2Up(nn.Module):
        def __init__(self):  # an explicit signature for Brevitas' dependency injection
            super().__init__()

        def forward(self, x):
            # y - x is exact (x <= y < 2x), so x + (y - x) is exactly y.
            return x + (_po2_up(x.detach()) - x).detach()

    return Po2Up


def _const_scale_impl(value: float):
    """A scaling_impl that returns exactly ``value`` (float32), whatever the level count."""
    import torch
    from torch import nn

    class ExactConstScaling(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("value", torch.tensor(value, dtype=torch.float32))

        def forward(self, x, threshold=None):
            return self.value

    return ExactConstScaling


def _check_common(spec) -> None:
    if not isinstance(spec, IntQuant):
        raise UnsupportedSpec(f"{type(spec).__name__} is not mapped by the brevitas backend "
                              "(only IntQuant); use backend='native'")
    if spec.rounding not in _ROUNDING:
        raise UnsupportedSpec(f"rounding={spec.rounding!r} has no Brevitas equivalent that exports to QONNX; "
                              f"use one of {', '.join(sorted(_ROUNDING))} or backend='native'")
    if spec.granularity == "per_group":
        raise UnsupportedSpec("granularity='per_group' has no Brevitas equivalent here; use per_tensor or "
                              "per_channel, or backend='native'")
    if spec.zero_point and spec.signed:
        raise UnsupportedSpec("zero_point=True with signed=True has no Brevitas equivalent (Brevitas' "
                              "asymmetric quantizers are unsigned); use signed=False or backend='native'")
    if spec.zero_point and spec.learned_scale:
        raise UnsupportedSpec("zero_point=True with learned_scale=True is not mapped; use backend='native'")
    if spec.zero_point and spec.scale_stats == "mse":
        raise UnsupportedSpec("zero_point=True with scale_stats='mse' is not mapped; use minmax or percentile, "
                              "or backend='native'")
    if spec.learned_scale and spec.scale_stats == "const":
        raise UnsupportedSpec("learned_scale=True with scale_stats='const' is not mapped; use minmax, "
                              "percentile or mse to initialise the learned scale")


def _scale_kwargs(spec, top: int, role: str) -> dict:
    """The scaling part of the quantizer: constant, statistics, or learned from statistics."""
    from brevitas.inject.enum import RestrictValueType, ScalingImplType, StatsOp

    kw = {"int_scaling_impl": _cached("maxlevel", _max_level_cls)}
    if spec.scale_stats == "const":
        c = 1.0 if spec.const_scale is None else float(spec.const_scale)
        import numpy as np

        c32, top32 = np.float32(c), np.float32(top)
        if np.float32(np.float32(c32 * top32) / top32) == c32:
            # Brevitas' own constant scaling divides scaling_const by the level count.
            kw.update(scaling_impl_type=ScalingImplType.CONST, scaling_init=float(c32 * top32),
                      restrict_scaling_type=RestrictValueType.FP)
        else:
            kw["scaling_impl"] = _const_scale_impl(float(c32))
        return kw
    # The statistic and the level count stay float; a po2 scale rounds their quotient up, as
    # bitsmith does (Brevitas' POWER_OF_TWO type would round each of them separately).
    kw["restrict_scaling_type"] = RestrictValueType.FP
    if spec.scale == "po2":
        kw["restrict_scale_threshold_impl"] = _cached("po2up", _po2_up_cls)
    if role == "weight":
        kw["scaling_impl_type"] = ScalingImplType.PARAMETER_FROM_STATS if spec.learned_scale \
            else ScalingImplType.STATS
    else:
        # Brevitas' calibration (calibration_mode) fills this parameter from the batches' statistics.
        kw["scaling_impl_type"] = ScalingImplType.PARAMETER_FROM_STATS
    if spec.scale_stats == "mse":
        return kw
    op = _STATS_OP[spec.scale_stats]
    kw["scaling_stats_op"] = getattr(StatsOp, op)
    if spec.scale_stats == "percentile":
        kw["high_percentile_q"] = float(spec.percentile)
        if spec.zero_point:
            kw["low_percentile_q"] = 100.0 - float(spec.percentile)
    if spec.zero_point:  # two-sided statistics for an asymmetric range
        kw["scaling_stats_op"] = StatsOp.MIN_MAX if op == "MAX" else StatsOp.PERCENTILE_INTERVAL
    return kw


def _int_kwargs(spec) -> dict:
    from brevitas.inject.enum import BitWidthImplType, FloatToIntImplType

    kw = dict(bit_width=spec.bits, signed=spec.signed, narrow_range=spec.narrow,
              float_to_int_impl_type=getattr(FloatToIntImplType, _ROUNDING[spec.rounding]))
    if spec.learned_bits:
        kw["bit_width_impl_type"] = BitWidthImplType.PARAMETER
    return kw


def weight_quantizer(spec, channel_axis: int = 0, weight_rank: Optional[int] = None):
    """The Brevitas weight quantizer (an injector class) equivalent to ``spec``.

    ``channel_axis`` is the layer's output-channel axis (1 for ConvTranspose), the only axis
    Brevitas scales per channel; a per-channel spec on another axis is refused."""
    _brevitas()
    from brevitas.quant import (Int8WeightPerTensorFloat, Int8WeightPerTensorFloatMSE,
                                ShiftedUint8WeightPerTensorFloat)

    _check_common(spec)
    if spec.granularity == "per_channel" and weight_rank is not None \
            and spec.channel_axis % weight_rank != channel_axis:
        raise UnsupportedSpec(f"channel_axis={spec.channel_axis} is not the layer's output-channel axis "
                              f"({channel_axis}), the only one Brevitas scales per channel")
    base = ShiftedUint8WeightPerTensorFloat if spec.zero_point else Int8WeightPerTensorFloat
    if spec.scale_stats == "mse":
        base = Int8WeightPerTensorFloatMSE
    top = spec.int_range[1]
    return base.let(**_int_kwargs(spec), **_scale_kwargs(spec, top, "weight"),
                    scaling_per_output_channel=spec.granularity == "per_channel")


def act_quantizer(spec):
    """The Brevitas activation quantizer (an injector class) equivalent to ``spec`` (per tensor)."""
    _brevitas()
    from brevitas.quant import Int8ActPerTensorFloat, Int8ActPerTensorFloatMSE, ShiftedUint8ActPerTensorFloat

    _check_common(spec)
    if spec.granularity != "per_tensor":
        raise UnsupportedSpec(f"granularity={spec.granularity!r} for an activation is not mapped; "
                              "use per_tensor or backend='native'")
    base = ShiftedUint8ActPerTensorFloat if spec.zero_point else Int8ActPerTensorFloat
    if spec.scale_stats == "mse":
        base = Int8ActPerTensorFloatMSE
    return base.let(**_int_kwargs(spec), **_scale_kwargs(spec, spec.int_range[1], "activation"))


def _merge_classes():
    """Brevitas' way to share one quantizer between the operands of a join: one QuantIdentity
    module applied to every operand (its scale is then common, so the sum stays on one grid)."""
    from torch import nn
    import torch

    class SharedQuantAdd(nn.Module):
        def __init__(self, input_quant):
            super().__init__()
            self.input_quant = input_quant

        def forward(self, a, b):
            return self.input_quant(a) + self.input_quant(b)

    class SharedQuantCat(nn.Module):
        def __init__(self, input_quant, dim: int = 1):
            super().__init__()
            self.input_quant, self.dim = input_quant, dim

        def forward(self, *xs):
            if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
                xs = tuple(xs[0])
            return torch.cat([self.input_quant(x) for x in xs], dim=self.dim)

    return SharedQuantAdd, SharedQuantCat


class BrevitasBackend(QuantizerBackend):
    """brevitas.nn layers whose quantizers come from bitsmith specs (``weight_quantizer``/``act_quantizer``)."""

    def __init__(self):
        from torch import nn

        self.bnn = bnn = _brevitas()
        self.nn = nn
        self.weight_types = {nn.Linear: bnn.QuantLinear, nn.Conv1d: bnn.QuantConv1d,
                             nn.Conv2d: bnn.QuantConv2d, nn.ConvTranspose2d: bnn.QuantConvTranspose2d}
        self.add_cls, self.cat_cls = _cached("merge", _merge_classes)

    def weight_layer(self, module, specs):
        import torch

        nn = self.nn
        cls = self.weight_types.get(type(module))
        if cls is None or specs["weight"] is None:
            return None
        if specs["bias"] is not None:
            raise UnsupportedSpec("bias='int32' needs the input scale, which Brevitas only passes inside a "
                                  "QuantTensor between layers; the brevitas backend keeps biases float "
                                  "(bias=None) or use backend='native'")
        out_axis = 1 if isinstance(module, nn.ConvTranspose2d) else 0
        wq = weight_quantizer(specs["weight"], out_axis, module.weight.dim())
        has_bias = module.bias is not None
        if isinstance(module, nn.Linear):
            q = cls(module.in_features, module.out_features, bias=has_bias, weight_quant=wq)
        elif isinstance(module, nn.ConvTranspose2d):
            q = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                    padding=module.padding, output_padding=module.output_padding, groups=module.groups,
                    bias=has_bias, dilation=module.dilation, weight_quant=wq)
        else:
            if module.padding_mode != "zeros":
                raise UnsupportedSpec(f"padding_mode={module.padding_mode!r} is not mapped; use 'zeros'")
            q = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                    padding=module.padding, dilation=module.dilation, groups=module.groups, bias=has_bias,
                    weight_quant=wq)
        with torch.no_grad():
            q.weight.copy_(module.weight)
            if has_bias:
                q.bias.copy_(module.bias)
        return q.to(module.weight.device)

    def activation(self, kind, module, spec):
        b, aq = self.bnn, act_quantizer(spec)
        if kind == "relu":
            return b.QuantReLU(act_quant=aq)
        if kind == "hardtanh":
            lo, hi = (module.min_val, module.max_val) if module is not None else (-1.0, 1.0)
            return b.QuantHardTanh(act_quant=aq, min_val=float(lo), max_val=float(hi))
        if kind == "sigmoid":
            return b.QuantSigmoid(act_quant=aq)
        return b.QuantTanh(act_quant=aq)

    def merge(self, kind, spec):
        shared = self.identity(spec)
        return self.add_cls(shared) if kind == "add" else self.cat_cls(shared)

    def identity(self, spec):
        return self.bnn.QuantIdentity(act_quant=act_quantizer(spec))


def is_brevitas_model(model) -> bool:
    """Whether any submodule is a Brevitas layer (so export and calibration go through Brevitas)."""
    return any(type(m).__module__.startswith("brevitas.") for m in model.modules())


def calibrate_brevitas(model, run_batches) -> None:
    """Runs ``run_batches()`` inside Brevitas' calibration_mode (statistics collected, then the
    activation scales set from them when the context closes)."""
    import torch
    from brevitas.graph.calibrate import calibration_mode

    with torch.no_grad(), calibration_mode(model):
        run_batches()


def export_brevitas_qonnx(model, example_input, path, input_names=("input",), output_names=("output",),
                          opset_version: int = 13) -> None:
    """brevitas.export.export_qonnx with bitsmith's conventions: the same input/output names,
    a dynamic batch dimension, the TorchScript exporter (as bitsmith's own export)."""
    import os
    import warnings

    import torch
    from brevitas.export import export_qonnx

    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    names_in = [f"{input_names[0]}{i}" if len(inputs) > 1 and len(input_names) == 1 else input_names[i]
                for i in range(len(inputs))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*inputs)
        n_out = len(out) if isinstance(out, (tuple, list)) else 1
        names_out = list(output_names)[:n_out] if len(output_names) >= n_out else [f"output{i}" for i in range(n_out)]
        dyn = {n: {0: "batch"} for n in names_in + names_out}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            export_qonnx(model, inputs, os.fspath(path), dynamo=False, input_names=names_in, output_names=names_out,
                         dynamic_axes=dyn, opset_version=opset_version, keep_initializers_as_inputs=False)
    finally:
        model.train(was_training)

