"""Smoke test of the engine benchmark's models (bench/engine_models.py): the files it builds run the same way in
every runner it compares, so its table compares one model, not several. The two smallest models (TFC w1a1 and
w2a2, built from Brevitas with random weights) are built into a temporary cache; onnxruntime on the float and QDQ
versions, qonnx's executor and bitsmith's reference engine (exact mode) must agree on the argmax of a few random
images."""

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

pytest.importorskip("brevitas_examples")
ort = pytest.importorskip("onnxruntime")
em = pytest.importorskip("engine_models")

import bitsmith  # noqa: E402

KEYS = ["tfc_w1a1", "tfc_w2a2"]
N = 8


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-models")


def _bitsmith_reference(path):
    if "engine" in inspect.signature(bitsmith.load).parameters:
        return bitsmith.load(str(path), engine="reference")
    return bitsmith.load(str(path))


def _ort(proto, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("key", KEYS)
def test_runners_agree_on_argmax(key, cache):
    from qonnx.core.onnx_exec import execute_onnx

    spec = em.SPECS_BY_KEY[key]
    path = em.model_path(key, cache)
    assert path.exists() and path.parent == cache
    assert em.model_path(key, cache) == path  # cached: the second call builds nothing
    x = spec.inputs(spec.shape, N, seed=7)

    model = _bitsmith_reference(path)
    exact = model.run({model.inputs[0].name: x}, mode="exact")[model.outputs[0].name]

    qmodel = em.with_batch(path, N)
    qonnx_out = execute_onnx(qmodel, {qmodel.graph.input[0].name: x})[qmodel.graph.output[0].name]
    float_out = _ort(em.float_model(path, N), x)
    qdq_out = _ort(em.qdq_model(path, N), x)

    assert exact.shape == qonnx_out.shape == float_out.shape == qdq_out.shape == (N, 10)
    want = exact.argmax(1)
    for name, out in (("qonnx", qonnx_out), ("ORT float", float_out), ("ORT QDQ", qdq_out)):
        assert np.array_equal(out.argmax(1), want), name
    # the float recipe is qonnx's formula in standard ops: the same float32 values
    assert np.array_equal(float_out, qonnx_out)


def test_brevitas_module_matches_cached_file(cache):
    """The PyTorch runner rebuilds the module from the same seed: it must be the model in the cached file."""
    torch = pytest.importorskip("torch")
    key = KEYS[1]
    spec = em.SPECS_BY_KEY[key]
    path = em.model_path(key, cache)
    x = spec.inputs(spec.shape, N, seed=8)
    module = em.torch_module(key)
    with torch.no_grad():
        torch_out = module(torch.from_numpy(x)).numpy()
    model = _bitsmith_reference(path)
    exact = model.run({model.inputs[0].name: x}, mode="exact")[model.outputs[0].name]
    assert np.array_equal(torch_out.argmax(1), exact.argmax(1))
