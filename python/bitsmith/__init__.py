"""bitsmith: exact quantized neural networks, from PyTorch to integer hardware.

>>> import bitsmith
>>> model = bitsmith.load("model.onnx")
>>> y = model(x)                      # exact mode: every rounding on the true value
>>> outs = model.run({"x": x}, mode="float")
"""

from ._errors import (
    Error,
    ExecutionError,
    InputError,
    IoError,
    ModelError,
    ParseError,
    UnsupportedError,
)
from . import _core, _errors
from ._model import Model, TensorInfo, load

__version__ = _core.__version__

# The error classes are listed once, in _errors.__all__.
__all__ = ["load", "Model", "TensorInfo", *_errors.__all__, "__version__"]
