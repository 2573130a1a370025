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
from .codegen import Project, compile  # noqa: A004 (bitsmith.compile, as hls4ml users expect)

__version__ = _core.__version__

# The error classes are listed once, in _errors.__all__.
__all__ = ["load", "Model", "TensorInfo", "compile", "Project", *_errors.__all__, "__version__"]


# The PyTorch front imports torch; `import bitsmith` alone must stay light, so these
# names load on first use (module __getattr__, PEP 562).
_LAZY = {
    "QuantizationConfig": "model_quantizer",
    "ModelQuantizer": "model_quantizer",
    "calibrate": "model_quantizer",
    "export_qonnx": "export",
    "export_qcdq": "qcdq",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name == "freeze":
        from .nn import freeze

        return freeze
    raise AttributeError(f"module 'bitsmith' has no attribute {name!r}")


__all__ += [*_LAZY, "freeze"]
