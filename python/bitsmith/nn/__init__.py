"""bitsmith.nn: quantized layers built on the bitsmith fake-quant ops (imports torch)."""

from .quantizer import Quantizer
from .weight_layers import QuantConv1d, QuantConv2d, QuantConvTranspose2d, QuantLinear
from .activation import QuantHardTanh, QuantIdentity, QuantReLU, QuantSigmoid, QuantTanh
from .pool import QuantAvgPool2d, QuantMaxPool2d
from .merge import QuantAdd, QuantCat
from .fold import fold_batchnorm, freeze

__all__ = [
    "Quantizer", "QuantLinear", "QuantConv1d", "QuantConv2d", "QuantConvTranspose2d", "QuantReLU",
    "QuantIdentity", "QuantHardTanh", "QuantSigmoid", "QuantTanh", "QuantMaxPool2d", "QuantAvgPool2d", "QuantAdd",
    "QuantCat", "fold_batchnorm", "freeze",
]
