"""The six-architecture bitsmith.nn zoo shared by the export tests.

``zoo(scale)`` builds MLP, VGG-style CNN, depthwise-separable, residual, 1-D conv and
transposed-conv models. ``scale="po2"`` gives power-of-two scales (float and exact never
differ: test_export.py); ``scale="float"`` gives min-max float scales, where the float32
rounding of x/s can land either side of a rounding boundary (test_export_float_scales.py).
"""

import torch
from torch import nn

import bitsmith.nn as bn
from bitsmith.quant import IntQuant


def specs(scale="po2"):
    """Input (8-bit), weight (4-bit per-channel, axis 0 and ConvTranspose's axis 1) and
    unsigned 4-bit activation specs with the given scale kind."""
    return dict(
        x8=IntQuant(bits=8, scale=scale),
        w4=IntQuant(bits=4, scale=scale, granularity="per_channel"),
        w4t=IntQuant(bits=4, scale=scale, granularity="per_channel", channel_axis=1),
        a4=IntQuant(bits=4, signed=False, scale=scale),
    )


class Residual(nn.Module):
    def __init__(self, c, q, x8, a4):
        super().__init__()
        self.body = nn.Sequential(q(bn.QuantConv2d, c, c, 3, padding=1), nn.BatchNorm2d(c), bn.QuantReLU(a4),
                                  q(bn.QuantConv2d, c, c, 3, padding=1))
        self.add = bn.QuantAdd(input_quant=x8)
        self.relu = bn.QuantReLU(a4)

    def forward(self, x):
        return self.relu(self.add(x, self.body(x)))


def zoo(scale="po2"):
    """name -> (uncalibrated model, input shape)."""
    s = specs(scale)
    x8, w4, w4t, a4 = s["x8"], s["w4"], s["w4t"], s["a4"]

    def q(cls, *args, w=w4, **kw):
        return cls(*args, weight_quant=w, input_quant=x8, bias_quant="int32", **kw)

    return {
        "mlp": (nn.Sequential(bn.QuantIdentity(x8), nn.Flatten(), q(bn.QuantLinear, 12, 16), bn.QuantReLU(a4),
                              q(bn.QuantLinear, 16, 5)), (3, 12)),
        "cnn": (nn.Sequential(bn.QuantIdentity(x8), q(bn.QuantConv2d, 3, 6, 3, padding=1), nn.BatchNorm2d(6),
                              bn.QuantReLU(a4), bn.QuantMaxPool2d(2), q(bn.QuantConv2d, 6, 8, 3), nn.BatchNorm2d(8),
                              bn.QuantReLU(a4), nn.Flatten(), q(bn.QuantLinear, 8 * 2 * 2, 4)), (3, 3, 8, 8)),
        "depthwise": (nn.Sequential(bn.QuantIdentity(x8), q(bn.QuantConv2d, 4, 4, 3, padding=1, groups=4),
                                    nn.BatchNorm2d(4), bn.QuantReLU(a4), q(bn.QuantConv2d, 4, 8, 1),
                                    bn.QuantReLU(a4), bn.QuantAvgPool2d(2, input_quant=a4)), (2, 4, 6, 6)),
        "residual": (nn.Sequential(bn.QuantIdentity(x8), q(bn.QuantConv2d, 3, 4, 3, padding=1), bn.QuantReLU(a4),
                                   Residual(4, q, x8, a4)), (2, 3, 6, 6)),
        "conv1d": (nn.Sequential(bn.QuantIdentity(x8), q(bn.QuantConv1d, 2, 4, 3, stride=2), nn.BatchNorm1d(4),
                                 bn.QuantReLU(a4), nn.Flatten(), q(bn.QuantLinear, 4 * 7, 3)), (3, 2, 16)),
        "convtranspose": (nn.Sequential(bn.QuantIdentity(x8),
                                        q(bn.QuantConvTranspose2d, 3, 2, 3, stride=2, padding=1, output_padding=1,
                                          w=w4t), bn.QuantReLU(a4)), (2, 3, 4, 4)),
    }


def calibrated(model, shape, seed=7, batches=3):
    """Training-mode passes on seeded normal data (statistics, BatchNorm running stats), then eval."""
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(batches):
        model(torch.randn(shape, generator=gen))
    return model.eval()
