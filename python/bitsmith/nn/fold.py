"""Model-level helpers: BatchNorm folding and freezing every quantizer."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .quantizer import Quantizer
from .weight_layers import QuantConvTranspose2d, _QuantWeightMixin

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def _fold_into(layer: nn.Module, bn: nn.Module, path: str) -> None:
    if layer.weight_quant.spec.learned_scale:
        raise ValueError(f"{path}: cannot fold BatchNorm into a layer with a learned weight scale; "
                         "fold before quantization-aware training")
    if isinstance(layer, QuantConvTranspose2d) and layer.groups != 1:
        raise ValueError(f"{path}: BatchNorm folding into a grouped transposed conv is not supported")
    alpha = bn.weight / torch.sqrt(bn.running_var + bn.eps) if bn.affine else 1 / torch.sqrt(bn.running_var + bn.eps)
    beta = bn.bias if bn.affine else torch.zeros_like(alpha)
    axis = 1 if isinstance(layer, QuantConvTranspose2d) else 0
    shape = [1] * layer.weight.dim()
    shape[axis] = -1
    layer.weight.mul_(alpha.reshape(shape))
    b = layer.bias if layer.bias is not None else torch.zeros_like(alpha)
    layer.bias = nn.Parameter((b - bn.running_mean) * alpha + beta)
    if layer.weight_quant.frozen:
        layer.weight_quant.frozen = False
        layer.freeze()


def fold_batchnorm(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Folds each BatchNorm that directly follows a quantized Conv/Linear (inside an nn.Sequential,
    or anywhere in a torch.fx GraphModule such as ModelQuantizer returns) into that layer's float weight and bias (the weight is quantized after folding, so the
    folded model is what export writes). Returns the folded copy (or model when inplace)."""
    m = model if inplace else copy.deepcopy(model)
    if isinstance(m, torch.fx.GraphModule):
        _fold_in_graph(m)
    for name, seq in m.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        keys = list(seq._modules)
        for a, b in zip(keys, keys[1:]):
            prev, cur = seq._modules[a], seq._modules[b]
            if isinstance(cur, _BN) and isinstance(prev, _QuantWeightMixin):
                _fold_into(prev, cur, f"{name}.{a}" if name else a)
                seq._modules[b] = nn.Identity()
    return m


def _fold_in_graph(gm: "torch.fx.GraphModule") -> None:
    """The graph form: a BatchNorm node whose only input is a quantized layer used by it alone."""
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(gm.get_submodule(node.target), _BN):
            continue
        prev = node.args[0] if node.args else None
        if getattr(prev, "op", None) != "call_module" or len(prev.users) != 1:
            continue
        layer = gm.get_submodule(prev.target)
        if not isinstance(layer, _QuantWeightMixin):
            continue
        _fold_into(layer, gm.get_submodule(node.target), prev.target)
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    gm.delete_all_unused_submodules()


def freeze(model: nn.Module) -> nn.Module:
    """Freezes every quantizer: weight scales are stored, activation statistics stop."""
    for mod in model.modules():
        if isinstance(mod, _QuantWeightMixin):
            mod.freeze()
    for mod in model.modules():
        if isinstance(mod, Quantizer) and not mod.frozen and not mod.dynamic:
            mod.freeze()
    return model
