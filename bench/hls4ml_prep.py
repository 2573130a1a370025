"""hls4ml's side of the benchmarks (bench_engine.py and bench_codegen.py): the QONNX preparation hls4ml documents,
the conversion with the benchmarks' one configuration, the cached compiled model and the input layout. One home, so
both benchmarks time the same hls4ml model."""

from __future__ import annotations

import contextlib
import ctypes
import io
import time
from pathlib import Path

import numpy as np

import engine_models as em

HLS4ML_CONFIG_VERSION = 1  # bump when prepare()/convert() change: the cached C simulations are rebuilt


@contextlib.contextmanager
def quiet():
    """hls4ml prints every layer and g++'s output; keep the benchmarks' output readable."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def prepare(path):
    """hls4ml's documented QONNX preparation: qonnx cleanup, channels-last, Gemm -> MatMul, cleanup again."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    m = cleanup_model(ModelWrapper(str(path)))
    _gemm_bias(m)
    m = m.transform(ConvertToChannelsLastAndClean())
    m = m.transform(GemmToMatMul())
    return cleanup_model(m)


def convert(model, out_dir, weights_txt=True):
    """convert_from_onnx_model with a per-layer config (default precision fixed<16,6> where the model does not
    say), io_parallel, Vitis backend. Writes nothing to out_dir until compile(). weights_txt=False: the C
    simulation gets its weights compiled in (as synthesis does) instead of reading text files on its first call."""
    import hls4ml

    cfg = hls4ml.utils.config.config_from_onnx_model(model, granularity="name", backend="Vitis",
                                                     default_precision="fixed<16,6>")
    return hls4ml.converters.convert_from_onnx_model(model, output_dir=str(out_dir), io_type="io_parallel",
                                                     backend="Vitis", hls_config=cfg,
                                                     write_weights_txt=weights_txt)


def hls4ml_model(key, path, may_compile=True):
    """hls4ml's C simulation of the model (prepare + convert + compile), compiled once and cached under
    build/bench-models/hls4ml/. Returns (model, compiled now?)."""
    import hls4ml

    out_dir = em.CACHE / "hls4ml" / f"{Path(path).stem}.h{HLS4ML_CONFIG_VERSION}.hls{hls4ml.__version__}"
    with quiet():
        hm = convert(prepare(path), out_dir)
        libs = sorted((out_dir / "firmware").glob("myproject-*.so")) if out_dir.exists() else []
        done = out_dir / "compiled.ok"
        if libs and done.exists():
            hm._top_function_lib = ctypes.cdll.LoadLibrary(str(libs[-1]))
            compiled = False
        elif not may_compile:
            raise RuntimeError("not compiled yet (a smoke run does not compile: about a minute per model)")
        else:
            t0 = time.perf_counter()
            hm.compile()
            done.write_text(f"{time.perf_counter() - t0:.1f} s\n")
            compiled = True
    return hm, compiled


def _gemm_bias(model):
    """qonnx's GemmToMatMul needs a bias input: give bias-free Gemm nodes a zero one (same values)."""
    from onnx import numpy_helper

    for node in model.graph.node:
        if node.op_type == "Gemm" and len(node.input) == 2:
            attrs = {a.name: a.i for a in node.attribute}
            w_shape = model.get_tensor_shape(node.input[1])
            n = w_shape[0] if attrs.get("transB", 0) else w_shape[1]
            name = node.output[0] + "_zero_bias"
            model.graph.initializer.append(numpy_helper.from_array(np.zeros(n, np.float32), name))
            node.input.append(name)


def hls4ml_input(hm, x):
    """hls4ml's channels-last, per-sample layout of x."""
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    shape = tuple(hm.get_input_variables()[0].shape)
    return np.ascontiguousarray(x.reshape((x.shape[0],) + shape))
