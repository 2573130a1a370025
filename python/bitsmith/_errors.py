"""The exceptions bitsmith raises.

Each class matches one kind of C++ ``bitsmith::Error``; the message is the same
text the ``bitsmith`` command prints after ``bitsmith: <ClassName>:``. The
classes also derive from the closest built-in exception, so generic handlers
(``except ValueError``, ``except OSError``) keep working.
"""


class Error(Exception):
    """Base class of every bitsmith error."""


class ParseError(Error, ValueError):
    """The file or bytes are not a valid ONNX model."""


class UnsupportedError(Error, NotImplementedError):
    """An op, attribute or type bitsmith does not implement."""


class ModelError(Error, ValueError):
    """The model is structurally wrong: missing initializer, bad shapes, cycles."""


class InputError(Error, ValueError):
    """A run-time input has the wrong name, shape or dtype, or holds NaN."""


class ExecutionError(Error, RuntimeError):
    """Evaluation failed, e.g. an exact value out of range."""


class IoError(Error, OSError):
    """Reading or writing a file failed."""


__all__ = [
    "Error",
    "ParseError",
    "UnsupportedError",
    "ModelError",
    "InputError",
    "ExecutionError",
    "IoError",
]
