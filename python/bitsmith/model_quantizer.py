"""Whole-model quantization: ``QuantizationConfig`` + ``ModelQuantizer`` (docs/model_quantizer.md).

``ModelQuantizer(cfg).quantize_model(model, calib_data)`` traces a plain PyTorch model with
torch.fx and rewrites it in graph mode:

- Linear, Conv1d, Conv2d and ConvTranspose2d become their bitsmith.nn counterparts with the
  config's weight (and bias) quantizer; the float weights are kept;
- ReLU, Hardtanh, Sigmoid and Tanh (modules or functions) become quantized activations with
  the config's activation quantizer;
- tensor additions (``a + b``, ``torch.add``) become QuantAdd and ``torch.cat`` becomes
  QuantCat, so both operands share one quantizer and residual joins stay exact;
- AvgPool2d gets an activation quantizer after it; MaxPool, BatchNorm (folded at export),
  Flatten and reshapes stay as they are;
- with ``input=`` set, the model input passes a quantizer first.

Which spec applies to a layer: the global one, overridden by ``by_type`` (module class or its
name), overridden by ``by_name`` (fnmatch patterns on the module path). A spec of None leaves
that quantizer out. The quantizer backend is pluggable (``QuantizerBackend``); ``native``
builds bitsmith.nn layers, ``brevitas`` builds brevitas.nn layers (bitsmith.brevitas_backend).
A spec a backend cannot express raises UnsupportedSpec naming the module path and the setting.
"""

from __future__ import annotations

import copy
import fnmatch
import operator
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

__all__ = ["QuantizationConfig", "ModelQuantizer", "QuantizerBackend", "NativeBackend", "UnsupportedSpec",
           "calibrate"]

_KEYS = ("weight", "activation", "bias")


@dataclass
class QuantizationConfig:
    """Global specs plus overrides; ``bias`` is None (float bias) or ``"int32"`` (scale s_w*s_x)."""

    weight: Any = None
    activation: Any = None
    bias: Optional[str] = None
    input: Any = None
    by_type: dict = field(default_factory=dict)
    by_name: dict = field(default_factory=dict)
    backend: str = "native"

    def __post_init__(self):
        if self.bias not in (None, "int32"):
            raise ValueError(f"bias must be None or 'int32', got {self.bias!r}")
        for where, table in (("by_type", self.by_type), ("by_name", self.by_name)):
            for key, over in table.items():
                if not isinstance(over, dict) or set(over) - set(_KEYS):
                    raise ValueError(f"{where}[{key!r}] must be a dict with keys among {_KEYS}, got {over!r}")

    def resolve(self, path: str, module) -> dict:
        """The specs for the module at ``path``: global, then by_type, then by_name."""
        out = {k: getattr(self, k) for k in _KEYS}
        for key, over in self.by_type.items():
            if (isinstance(key, type) and isinstance(module, key)) or key == type(module).__name__:
                out.update(over)
        for pattern, over in self.by_name.items():
            if fnmatch.fnmatchcase(path, pattern):
                out.update(over)
        return out


class UnsupportedSpec(ValueError):
    """A spec setting the chosen backend has no equivalent for; quantize_model prefixes the module path."""


class QuantizerBackend:
    """Builds the quantized replacement of one float module (None: keep it)."""

    def weight_layer(self, module, specs: dict):
        raise NotImplementedError

    def activation(self, kind: str, module, spec):
        raise NotImplementedError

    def merge(self, kind: str, spec):
        raise NotImplementedError

    def identity(self, spec):
        raise NotImplementedError


class NativeBackend(QuantizerBackend):
    """bitsmith.nn layers, whose fake-quant forward is the C++ core's rounding."""

    def __init__(self):
        from torch import nn

        from . import nn as qnn

        self.nn, self.qnn = nn, qnn
        self.weight_types = {nn.Linear: qnn.QuantLinear, nn.Conv1d: qnn.QuantConv1d,
                             nn.Conv2d: qnn.QuantConv2d, nn.ConvTranspose2d: qnn.QuantConvTranspose2d}

    def weight_layer(self, module, specs):
        cls = self.weight_types.get(type(module))
        if cls is None or specs["weight"] is None:
            return None
        return cls.from_float(module, weight_quant=specs["weight"], bias_quant=specs["bias"])

    def activation(self, kind, module, spec):
        q = self.qnn
        if kind == "relu":
            return q.QuantReLU(act_quant=spec)
        if kind == "hardtanh":
            lo, hi = (module.min_val, module.max_val) if module is not None else (-1.0, 1.0)
            return q.QuantHardTanh(min_val=lo, max_val=hi, act_quant=spec)
        if kind == "sigmoid":
            return q.QuantSigmoid(act_quant=spec)
        return q.QuantTanh(act_quant=spec)

    def merge(self, kind, spec):
        return self.qnn.QuantAdd(input_quant=spec) if kind == "add" else self.qnn.QuantCat(input_quant=spec)

    def identity(self, spec):
        return self.qnn.QuantIdentity(act_quant=spec)


def _brevitas_backend():
    # Imported on use: brevitas_backend imports this module, and brevitas itself is optional.
    from .brevitas_backend import BrevitasBackend

    return BrevitasBackend()


_BACKENDS = {"native": NativeBackend, "brevitas": _brevitas_backend}


def _signed(spec):
    """Sums and concatenations of signed branches need a signed grid."""
    if spec is not None and hasattr(spec, "signed") and not spec.signed:
        return spec.replace(signed=True)
    return spec


class ModelQuantizer:
    def __init__(self, config: QuantizationConfig):
        if config.backend not in _BACKENDS:
            raise ValueError(f"unknown backend {config.backend!r}; available: {sorted(_BACKENDS)}")
        self.config = config

    def quantize_model(self, model, calib_data: Optional[Iterable] = None):
        """A quantized copy of ``model`` (a torch.fx GraphModule); calibrated when data is given."""
        import torch
        import torch.fx as fx
        import torch.nn.functional as F

        backend = _BACKENDS[self.config.backend]()
        nn = backend.nn
        gm = fx.symbolic_trace(copy.deepcopy(model))
        cfg = self.config
        act_modules = {nn.ReLU: "relu", nn.Hardtanh: "hardtanh", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
        act_functions = {torch.relu: "relu", F.relu: "relu", torch.sigmoid: "sigmoid", torch.tanh: "tanh",
                         F.hardtanh: "hardtanh"}
        counter = 0

        def add_module(prefix: str, module) -> str:
            nonlocal counter
            name = f"{prefix}_bitsmith_{counter}"
            counter += 1
            gm.add_module(name, module)
            return name

        for node in list(gm.graph.nodes):
            where = node.target if node.op == "call_module" else node.name
            try:
                self._rewrite(gm, node, backend, add_module, act_modules, act_functions)
            except UnsupportedSpec as e:
                raise UnsupportedSpec(f"{where}: {e}") from None
        gm.graph.lint()
        gm.recompile()
        if calib_data is not None:
            calibrate(gm, calib_data)
        return gm

    def _rewrite(self, gm, node, backend, add_module, act_modules, act_functions) -> None:
        """Replaces or wraps one fx node (a module call, an activation function, a join)."""
        cfg, nn = self.config, backend.nn
        if node.op == "placeholder" and cfg.input is not None:
            with gm.graph.inserting_after(node):
                q = gm.graph.call_module(add_module("input_quant", backend.identity(cfg.input)), (node,))
            node.replace_all_uses_with(q, delete_user_cb=lambda user: user is not q)
        elif node.op == "call_module":
            module = gm.get_submodule(node.target)
            specs = cfg.resolve(node.target, module)
            replacement = None
            if type(module) in backend.weight_types:
                replacement = backend.weight_layer(module, specs)
            elif type(module) in act_modules and specs["activation"] is not None:
                replacement = backend.activation(act_modules[type(module)], module, specs["activation"])
            elif isinstance(module, nn.AvgPool2d) and specs["activation"] is not None:
                with gm.graph.inserting_after(node):
                    q = gm.graph.call_module(
                        add_module(node.target.replace(".", "_"), backend.identity(specs["activation"])), (node,))
                node.replace_all_uses_with(q, delete_user_cb=lambda user: user is not q)
            if replacement is not None:
                parent, _, leaf = node.target.rpartition(".")
                setattr(gm.get_submodule(parent) if parent else gm, leaf, replacement)
        elif node.op in ("call_function", "call_method"):
            kind = self._function_kind(node, act_functions)
            if kind is None or cfg.activation is None:
                return
            if kind in ("add", "cat"):
                module = backend.merge(kind, _signed(cfg.activation))
                if kind == "cat":
                    module.dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
                args = tuple(node.args[0]) if kind == "cat" else tuple(node.args[:2])
            else:
                module = backend.activation(kind, None, cfg.activation)
                args = (node.args[0],)
            with gm.graph.inserting_after(node):
                q = gm.graph.call_module(add_module(kind, module), args)
            node.replace_all_uses_with(q)
            gm.graph.erase_node(node)

    @staticmethod
    def _function_kind(node, act_functions) -> Optional[str]:
        import torch

        target = node.target
        if node.op == "call_method":
            return {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "add": "add"}.get(target)
        if target in act_functions:
            return act_functions[target]
        if target in (operator.add, torch.add):
            tensors = [a for a in node.args[:2] if hasattr(a, "op")]
            return "add" if len(tensors) == 2 else None
        if target is torch.cat:
            return "cat"
        return None


def calibrate(model, data: Iterable, max_batches: Optional[int] = None, progress: bool = True):
    """Runs batches through ``model`` in eval mode with every activation quantizer collecting
    statistics (post-training quantization). Batches may be tensors or (input, ...) tuples.
    A model with Brevitas layers (backend='brevitas') is calibrated in Brevitas'
    calibration_mode instead, with the same batches and progress bar."""
    import torch

    from .nn import Quantizer

    def run_batches():
        batches = data
        if progress:
            from tqdm.auto import tqdm

            total = max_batches if max_batches is not None else (len(data) if hasattr(data, "__len__") else None)
            batches = tqdm(data, total=total, desc="calibrating", unit="batch", leave=False)
        with torch.no_grad():
            for i, batch in enumerate(batches):
                if max_batches is not None and i >= max_batches:
                    break
                x = batch[0] if isinstance(batch, (list, tuple)) else batch
                model(x)

    quantizers = [m for m in model.modules() if isinstance(m, Quantizer) and not m.dynamic]
    was_training = model.training
    model.eval()
    for q in quantizers:
        q.calibrating = True
    try:
        from .brevitas_backend import calibrate_brevitas, is_brevitas_model

        if is_brevitas_model(model):
            calibrate_brevitas(model, run_batches)
        else:
            run_batches()
    finally:
        for q in quantizers:
            q.calibrating = False
        model.train(was_training)
    return model
