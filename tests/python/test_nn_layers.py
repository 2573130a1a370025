"""bitsmith.nn layers: each forward equals a reference computed here.

The reference quantizer is numpy (round half to even, clamp, times scale) and the
linear algebra runs in float64 on the reference-quantized tensors; power-of-two scales
and small bit widths keep every product and sum exact in float32, so == holds.
Brevitas parity: equivalent constant-scale Brevitas layers give identical outputs.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("bitsmith._core")
F = torch.nn.functional

import bitsmith.nn as bn  # noqa: E402
from bitsmith import fake_quant as FQ  # noqa: E402
from bitsmith.quant import BipolarQuant, IntQuant  # noqa: E402

S_X, S_W = 2.0**-5, 2.0**-6


def const(bits, s, signed=True, narrow=False):
    return IntQuant(bits=bits, signed=signed, narrow=narrow, scale_stats="const", const_scale=s)


def ref_q(x, s, bits, signed=True, narrow=False):
    x = np.asarray(x, dtype=np.float64)
    lo, hi = (-(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1 - narrow)
    return np.clip(np.round(x / s), lo, hi) * s


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def check(y, ref):
    assert y.dtype == torch.float32
    np.testing.assert_array_equal(y.detach().numpy(), np.asarray(ref, dtype=np.float32))


def rnd(*shape, seed=0, scale=1.0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * scale)


def weight_layer_case(layer, x, fn):
    """Reference for a layer with 8-bit input at S_X, 4-bit weight at S_W and an int32 bias."""
    qx = ref_q(x.numpy(), S_X, 8)
    qw = ref_q(layer.weight.detach().numpy(), S_W, 4)
    qb = ref_q(layer.bias.detach().numpy(), S_W * S_X, 32)
    check(layer(x), fn(t64(qx), t64(qw), t64(qb)).numpy())


def qkw():
    return dict(weight_quant=const(4, S_W), input_quant=const(8, S_X), bias_quant="int32")


def test_linear():
    weight_layer_case(bn.QuantLinear(16, 5, **qkw()), rnd(4, 16), F.linear)


def test_conv1d():
    layer = bn.QuantConv1d(3, 4, 3, padding=1, **qkw())
    weight_layer_case(layer, rnd(2, 3, 10), lambda x, w, b: F.conv1d(x, w, b, padding=1))


def test_conv2d_grouped_strided():
    layer = bn.QuantConv2d(4, 6, 3, stride=2, padding=1, groups=2, **qkw())
    weight_layer_case(layer, rnd(2, 4, 9, 9), lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2))


def test_conv_transpose2d():
    layer = bn.QuantConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, **qkw())
    weight_layer_case(layer, rnd(2, 3, 5, 5),
                      lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1))


def test_per_channel_po2_weight_scale():
    spec = IntQuant(bits=4, granularity="per_channel", scale="po2")
    layer = bn.QuantLinear(8, 3, bias=False, weight_quant=spec)
    w = layer.weight.detach().numpy().astype(np.float64)
    s = 2.0 ** np.ceil(np.log2(np.abs(w).max(axis=1, keepdims=True) / 7))
    x = torch.from_numpy(ref_q(rnd(2, 8).numpy(), S_X, 8).astype(np.float32))  # dyadic: exact sums
    check(layer(x), F.linear(x.double(), t64(ref_q(w, s, 4))).numpy())


@pytest.mark.parametrize("cls,fn,signed", [
    (bn.QuantIdentity, lambda x: x, True),
    (bn.QuantReLU, torch.relu, False),
    (bn.QuantHardTanh, lambda x: torch.clamp(x, -1.0, 1.0), True),
    (bn.QuantSigmoid, torch.sigmoid, False),
    (bn.QuantTanh, torch.tanh, True),
])
def test_activations(cls, fn, signed):
    x = rnd(3, 50, scale=2.0)
    layer = cls(act_quant=const(4, 2.0**-3, signed=signed))
    check(layer(x), ref_q(fn(x).numpy(), 2.0**-3, 4, signed))


def test_maxpool_is_plain_max_pool():
    x = rnd(2, 3, 8, 8)
    check(bn.QuantMaxPool2d(2)(x), F.max_pool2d(x, 2).numpy())


@pytest.mark.parametrize("rounding", ["FLOOR", "ROUND"])
def test_avgpool_truncates_the_window_sum(rounding):
    x = rnd(2, 3, 6, 6, scale=2.0)
    layer = bn.QuantAvgPool2d(2, input_quant=const(6, 2.0**-3), rounding=rounding)
    lv = np.round(ref_q(x.numpy(), 2.0**-3, 6) / 2.0**-3)  # integer levels
    win = lv.reshape(2, 3, 3, 2, 3, 2).sum(axis=(3, 5))  # 2x2 window sums
    r = np.floor(win / 4) if rounding == "FLOOR" else np.round(win / 4)
    check(layer(x), r * 2.0**-3)
    with pytest.raises(ValueError, match="power of two"):
        bn.QuantAvgPool2d(3)


def test_add_and_cat_share_one_quantizer():
    a, b = rnd(2, 6, scale=0.1), rnd(2, 6, seed=1, scale=4.0)
    add = bn.QuantAdd(input_quant=IntQuant(bits=6, scale="po2"))
    add.train()
    add(a, b)  # statistics from both inputs: the range is b's
    add.eval()
    s = add.input_quant.scale.item()
    assert s == 2.0 ** np.ceil(np.log2(max(a.abs().max(), b.abs().max()).item() / 31))
    check(add(a, b), ref_q(a.numpy(), s, 6) + ref_q(b.numpy(), s, 6))
    cat = bn.QuantCat(dim=1, input_quant=const(6, 2.0**-2))
    check(cat(a, b), np.concatenate([ref_q(a.numpy(), 0.25, 6), ref_q(b.numpy(), 0.25, 6)], axis=1))


def test_quantizer_state():
    q = bn.Quantizer(IntQuant(bits=8, scale="po2"))
    names = dict(q.named_buffers())
    assert {"scale", "min_val", "max_val"} <= set(names) and not list(q.parameters())
    q.eval()
    with pytest.raises(RuntimeError, match="no statistics"):
        q(rnd(4))
    q.calibrating = True
    q(rnd(10, scale=3.0))
    s = q.scale.clone()
    q.calibrating = False
    q(rnd(10, seed=5, scale=100.0))  # eval, not calibrating: statistics stay
    assert torch.equal(q.scale, s)
    pq = bn.Quantizer(IntQuant(bits=8, scale_stats="percentile", percentile=90.0))
    pq.calibrating = True
    small, big = rnd(100, scale=0.5), rnd(100, seed=2, scale=2.0)
    pq(small)
    assert torch.equal(pq.scale, FQ.compute_scale(small, pq.spec)[0])
    pq(big)
    pq(small)  # the widest scale stays
    assert torch.equal(pq.scale, FQ.compute_scale(big, pq.spec)[0])
    learned = bn.Quantizer(IntQuant(bits=4, learned_scale=True))
    assert [n for n, _ in learned.named_parameters()] == ["scale"]
    y = learned(rnd(8, scale=2.0))
    y.sum().backward()
    assert learned.scale.grad is not None and bool(learned.initialized)
    bip = bn.Quantizer(BipolarQuant(scale_stats="const", const_scale=0.5))
    check(bip(torch.tensor([-1.0, 0.0, 2.0])), [-0.5, 0.5, 0.5])


def test_weight_freeze_and_from_float():
    lin = torch.nn.Linear(6, 3)
    q = bn.QuantLinear.from_float(lin, weight_quant=IntQuant(bits=4, scale="po2"))
    assert torch.equal(q.weight, lin.weight) and torch.equal(q.bias, lin.bias)
    conv = bn.QuantConv2d.from_float(torch.nn.Conv2d(3, 4, 3, padding=1, groups=1), **qkw())
    assert isinstance(conv, bn.QuantConv2d) and conv.padding == (1, 1)
    s = 2.0 ** np.ceil(np.log2(q.weight.detach().abs().max().item() / 7))
    q.freeze()
    with torch.no_grad():
        q.weight.mul_(0.25)  # a frozen weight scale no longer follows the weight
    assert q.weight_quant.frozen and q.weight_quant.scale.item() == s
    x = torch.from_numpy(ref_q(rnd(2, 6).numpy(), S_X, 8).astype(np.float32))
    ref = F.linear(x.double(), t64(ref_q(q.weight.detach().numpy(), s, 4)), q.bias.detach().double())
    assert torch.equal(q(x), ref.float())


def test_qat_step_gradients():
    layer = bn.QuantLinear(6, 3, weight_quant=IntQuant(bits=4, learned_scale=True),
                           input_quant=IntQuant(bits=8, learned_scale=True), bias_quant="int32")
    layer(rnd(4, 6)).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name


def test_int32_bias_needs_input_quant():
    with pytest.raises(ValueError, match="needs input_quant"):
        bn.QuantLinear(4, 2, bias_quant="int32")


# --- Brevitas parity (the same levels, the same float32 arithmetic) ---
# The Brevitas quantizers come from bitsmith.brevitas_backend, the one home of the
# spec -> Brevitas mapping (ModelQuantizer's backend="brevitas" uses it too).

@pytest.mark.parametrize("ours_w", [const(4, 2.0**-4, narrow=True), const(4, 0.05),
                                    IntQuant(bits=4, scale="po2", granularity="per_channel")])
def test_brevitas_parity(ours_w):
    brevitas_nn = pytest.importorskip("brevitas.nn")
    from bitsmith.brevitas_backend import act_quantizer, weight_quantizer

    wq = weight_quantizer(ours_w)
    pairs = [
        (brevitas_nn.QuantLinear(8, 5, bias=False, weight_quant=wq),
         bn.QuantLinear(8, 5, bias=False, weight_quant=ours_w), rnd(3, 8)),
        (brevitas_nn.QuantConv2d(3, 4, 3, bias=False, weight_quant=wq),
         bn.QuantConv2d(3, 4, 3, bias=False, weight_quant=ours_w), rnd(2, 3, 6, 6)),
    ]
    for theirs, ours, x in pairs:
        with torch.no_grad():
            ours.weight.copy_(theirs.weight)
        theirs.eval(), ours.eval()
        assert torch.equal(theirs(x), ours(x))
    act = const(4, 2.0**-4, signed=False)
    relu_b = brevitas_nn.QuantReLU(act_quant=act_quantizer(act)).eval()
    relu_o = bn.QuantReLU(act).eval()
    x = rnd(200, scale=0.7)
    assert torch.equal(relu_b(x), relu_o(x))
