"""The fast integer engine against the reference executor, in exact mode: every output
bit equal (==), on the Brevitas-exported zoo, the models shipped with qonnx and the
shared real models, for 1 and 2 threads and several batch sizes."""

import numpy as np
import pytest

import bitsmith
import zoo
from test_qonnx_diff import REAL, SHIPPED, clean_dir, cleaned, model_inputs, zoo_dir  # noqa: F401 (fixtures)

# Zoo models whose every quantized layer the engine must fuse (the rest may keep
# some layers on the reference path, e.g. minifloat or transposed convolutions).
MUST_LOWER = {"conv_per_tensor_float", "conv_per_channel_float", "conv_power_of_two", "linear_4bit", "binary",
              "depthwise", "conv1d", "narrow_signed_unsigned", "shifted_zero_point", "rounding_floor",
              "rounding_half_up", "batchnorm", "maxpool", "linear_16bit", "trunc_avgpool", "concat",
              "conv_transpose"}


def batched(mw, n, seed, spec=None):
    """One feed holding n samples along the batch axis."""
    feeds = [f for i in range(n) for f in model_inputs(mw, 1, seed + i, spec)]
    return {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}


def check_engine(path, clean_dir, spec=None, batches=(1, 7, 64)):
    clean, mw = cleaned(path, clean_dir)
    model = bitsmith.load(clean)
    for n in batches:
        feed = batched(mw, n, seed=n, spec=spec)
        feed = {info.name: x for info, x in zip(model.inputs, feed.values())}
        ref = model.run(feed, engine="reference")
        for threads in (1, 2):
            fast = model.run(feed, engine="fast", threads=threads)
            assert fast.keys() == ref.keys()
            for k in ref:
                np.testing.assert_array_equal(fast[k], ref[k], err_msg=f"{path}: output {k}, batch {n}, "
                                              f"{threads} thread(s)")
    return model.lowering()


@pytest.mark.parametrize("name", [m.name for m in zoo.ZOO])
def test_zoo(name, zoo_dir, clean_dir):
    report = check_engine(zoo.exported(name, zoo_dir), clean_dir, spec=zoo.BY_NAME[name])
    assert not any("lowering failed" in r for r in report["reference_path"]), report
    if name in MUST_LOWER:
        assert report["lowered"], report
        assert not any("MatMul" in r or "Conv" in r or "Gemm" in r for r in report["reference_path"]), report


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped(path, clean_dir):
    try:
        report = bitsmith.load(str(path)).lowering()
    except bitsmith.UnsupportedError as e:
        pytest.skip(f"bitsmith does not support this model: {e}")
    if not report["lowered"]:
        # Unquantized float models: exact mode is big-rational arithmetic, minutes per batch.
        pytest.skip("no quantized layer to lower: " + "; ".join(report["reference_path"][:2]))
    check_engine(path, clean_dir, batches=(1, 2))


@pytest.mark.skipif(not REAL, reason="../shared/models is absent")
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real(path, clean_dir):
    report = check_engine(path, clean_dir, batches=(1, 100))
    assert report["lowered"], report


def test_engine_argument_errors(tmp_path, zoo_dir):
    path = zoo.exported("linear_4bit", zoo_dir)
    with pytest.raises(ValueError, match="engine"):
        bitsmith.load(path, engine="gpu")
    with pytest.raises(ValueError, match="threads"):
        bitsmith.load(path, threads=0)
    model = bitsmith.load(path)
    assert "IntLinear" in model.text(lowered=True)


ISA_SCRIPT = """
import sys, numpy as np, bitsmith
for path in sys.argv[1:]:
    m = bitsmith.load(path)
    shape = [37] + [d or 1 for d in m.inputs[0].shape[1:]]
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    ref = m.run(x, engine="reference")
    for t in (1, 2):
        fast = m.run(x, threads=t)
        for k in ref:
            assert np.array_equal(fast[k], ref[k], equal_nan=True), (path, k, t)
print("ok")
"""


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_every_isa_path(isa, zoo_dir):
    """The integer kernels are chosen once per process: each forced ISA in its own process."""
    import os
    import subprocess
    import sys

    from runtime_isa import supported  # noqa: E402 (tests/python helper)

    if not supported(isa):
        pytest.skip(f"this CPU lacks {isa}")
    paths = [str(p) for p in REAL] + [zoo.exported(n, zoo_dir) for n in ("binary", "depthwise", "residual_add")]
    env = dict(os.environ, BITSMITH_ISA=isa)
    out = subprocess.run([sys.executable, "-c", ISA_SCRIPT, *paths], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
