"""The Python front: bitsmith.load, Model.run / __call__, TensorInfo, errors, and
the low-level quantization functions of bitsmith._core."""

import os
import pathlib
import threading

import numpy as np
import pytest

import tiny_models

bitsmith = pytest.importorskip("bitsmith", reason="bitsmith is not built/installed in this venv")
core = pytest.importorskip("bitsmith._core", reason="bitsmith._core extension is not built")


@pytest.fixture
def tiny_path(tmp_path):
    return tiny_models.save(tiny_models.tiny(), tmp_path / "tiny.onnx")


@pytest.fixture
def model(tiny_path):
    return bitsmith.load(tiny_path)


def rand(*shape, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# --- the api.md example -------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_api_example(tiny_path, batch):
    model = bitsmith.load(tiny_path)
    x = rand(batch, 4, seed=batch)
    y = model(x)  # exact mode by default
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (batch, 3)
    assert np.array_equal(y, tiny_models.tiny_ref(x))
    outs = model.run({"x": x}, mode="float")
    assert list(outs) == ["y"]
    assert np.array_equal(outs["y"], y)
    assert np.array_equal(model(x, mode="float"), y)


def test_inputs_outputs(model, tiny_path):
    assert model.source == tiny_path
    assert model.inputs == [bitsmith.TensorInfo("x", (1, 4), "float32", "FLOAT32")]
    (out,) = model.outputs
    assert (out.name, out.shape, out.dtype) == ("y", (1, 3), "float32")
    assert isinstance(out.qtype, str)
    info = model.inputs[0]
    assert info.name == "x" and info.shape == (1, 4)


def test_free_batch_dimension(tmp_path):
    m = bitsmith.load(tiny_models.save(tiny_models.tiny(batch="N"), tmp_path / "free.onnx"))
    assert m.inputs[0].shape == (None, 4)
    x = rand(5, 4)
    assert np.array_equal(m(x), tiny_models.tiny_ref(x))


def test_load_from_bytes_pathlike_and_proto(tiny_path):
    x = rand(3, 4)
    want = tiny_models.tiny_ref(x)
    data = pathlib.Path(tiny_path).read_bytes()
    for src in (pathlib.Path(tiny_path), data, bytearray(data), memoryview(data), tiny_models.tiny()):
        assert np.array_equal(bitsmith.load(src)(x), want)
    assert bitsmith.load(data).source == "<bytes>"
    with pytest.raises(TypeError):
        bitsmith.load(42)


def test_intermediates(model):
    x = rand(2, 4)
    outs = model.run({"x": x}, intermediates=True)
    assert {"x", "xq", "xr", "Wq", "y"} <= set(outs)
    assert np.array_equal(outs["xq"], tiny_models.quant_ref(x).astype(np.float32))
    assert np.array_equal(outs["xr"], np.maximum(outs["xq"], 0))
    assert np.array_equal(outs["y"], tiny_models.tiny_ref(x))


def test_layouts_and_single_array_feed(model):
    base = rand(4, 6)
    x = base[:, 1:5][::-1]  # neither C- nor F-contiguous, negative stride
    assert not x.flags.c_contiguous
    want = tiny_models.tiny_ref(np.ascontiguousarray(x))
    assert np.array_equal(model(x), want)
    assert np.array_equal(model(np.asfortranarray(x)), want)
    assert np.array_equal(model(x.astype(">f4")), want)  # byte order is not a type change
    ro = np.ascontiguousarray(x)
    ro.setflags(write=False)
    assert np.array_equal(model.run(ro)["y"], want)


def test_torch_tensor_input(model):
    torch = pytest.importorskip("torch")
    x = rand(3, 4)
    want = tiny_models.tiny_ref(x)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    assert np.array_equal(model(t), want)
    assert np.array_equal(model.run({"x": t.detach().t().contiguous().t()})["y"], want)
    with pytest.raises(bitsmith.InputError, match="must be float32, got float64"):
        model(t.double())
    with pytest.raises(bitsmith.InputError, match="must be float32, got bfloat16"):
        model(t.to(torch.bfloat16))


def test_threads_share_a_model(model):
    xs = [rand(8, 4, seed=s) for s in range(6)]
    results = [None] * len(xs)

    def work(i):
        results[i] = model(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, y in zip(xs, results):
        assert np.array_equal(y, tiny_models.tiny_ref(x))


def test_two_inputs(tmp_path):
    m = bitsmith.load(tiny_models.save(tiny_models.two_inputs(), tmp_path / "two.onnx"))
    a, b = rand(2, 4, seed=1), rand(2, 4, seed=2)
    want = (tiny_models.quant_ref(a) + tiny_models.quant_ref(b)).astype(np.float32)
    assert np.array_equal(m(a, b), want)
    assert np.array_equal(m.run({"b": b, "a": a})["y"], want)
    with pytest.raises(bitsmith.InputError, match=r"takes 2 input\(s\)"):
        m(a)
    with pytest.raises(TypeError):
        m.run(a)


def test_text_and_version(model):
    text = model.text()
    for name in ("q_in", "relu", "q_w", "mm", "Quant", "MatMul"):
        assert name in text
    assert isinstance(bitsmith.__version__, str) and bitsmith.__version__[0].isdigit()
    assert "tiny.onnx" in repr(model)


# --- errors -------------------------------------------------------------------------


def test_error_classes():
    for name in ("ParseError", "UnsupportedError", "ModelError", "InputError", "ExecutionError", "IoError"):
        cls = getattr(bitsmith, name)
        assert issubclass(cls, bitsmith.Error) and issubclass(cls, Exception)
    assert issubclass(bitsmith.InputError, ValueError)
    assert issubclass(bitsmith.IoError, OSError)


def test_input_errors(model, tiny_path):
    x = rand(2, 4)
    with pytest.raises(bitsmith.InputError) as e:
        model.run({"nope": x})
    assert "unknown input 'nope'" in str(e.value) and tiny_path in str(e.value)
    with pytest.raises(bitsmith.InputError, match="input 'x' is missing"):
        model.run({})
    with pytest.raises(bitsmith.InputError, match="has shape"):
        model(rand(2, 5))
    with pytest.raises(bitsmith.InputError, match="has shape"):
        model(rand(4))
    with pytest.raises(bitsmith.InputError) as e:
        model(x.astype(np.float64))
    assert str(e.value) == f"{tiny_path}: input 'x' must be float32, got float64"
    with pytest.raises(bitsmith.InputError, match="must be float32, got float16"):
        model(x.astype(np.float16))
    with pytest.raises(bitsmith.InputError, match="must be float32, got int64"):
        model(np.zeros((2, 4), np.int64))
    with pytest.raises(bitsmith.InputError, match="must be float32, got float64"):
        model([[0.5, 1.0, 1.5, 2.0]])  # a list becomes float64: no silent cast
    with pytest.raises(bitsmith.InputError, match="must be float32, got <U3"):
        model(np.full((2, 4), "abc"))
    with pytest.raises(bitsmith.InputError, match="must be float32, got object"):
        model(np.full((2, 4), None))
    with pytest.raises(bitsmith.InputError, match="unknown mode 'fast'"):
        model(x, mode="fast")


def test_nan_input(model):
    x = rand(2, 4)
    x[1, 2] = np.nan
    with pytest.raises(bitsmith.InputError, match="NaN at flat index 6"):
        model(x)
    y = model(x, allow_nan=True)
    assert y.shape == (2, 3)


def test_bad_files(tmp_path, tiny_path):
    data = pathlib.Path(tiny_path).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(bitsmith.ParseError) as e:
        bitsmith.load(truncated)
    assert str(truncated) in str(e.value)
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(bitsmith.Error) as e:
        bitsmith.load(noise)
    assert type(e.value) in (bitsmith.ParseError, bitsmith.ModelError, bitsmith.UnsupportedError)
    with pytest.raises(bitsmith.ParseError):
        bitsmith.load(b"\x08\x07\xff\xff garbage")
    missing = tmp_path / "missing.onnx"
    with pytest.raises(bitsmith.IoError) as e:
        bitsmith.load(missing)
    assert str(missing) in str(e.value)
    with pytest.raises((bitsmith.IoError, bitsmith.ParseError)):
        bitsmith.load(os.fspath(tmp_path))  # a folder


# --- low-level quantization core -----------------------------------------------------

MODES = ["ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "CEIL", "FLOOR", "UP", "DOWN"]


def test_round_ties():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.25, 0.75], np.float64)
    want = {
        "ROUND": [-2, -2, -0.0, 0, 2, 2, -0.0, 1],
        "HALF_UP": [-3, -2, -1, 1, 2, 3, -0.0, 1],
        "HALF_DOWN": [-2, -1, -0.0, 0, 1, 2, -0.0, 1],
        "CEIL": [-2, -1, -0.0, 1, 2, 3, -0.0, 1],
        "FLOOR": [-3, -2, -1, 0, 1, 2, -1, 0],
        "UP": [-3, -2, -1, 1, 2, 3, -1, 1],
        "DOWN": [-2, -1, -0.0, 0, 1, 2, -0.0, 0],
    }
    for mode, w in want.items():
        for exact in (True, False):
            got = core.round(x, mode, exact=exact)
            assert got.dtype == np.float64
            assert np.array_equal(got, np.array(w, np.float64)), (mode, exact, got)
            if exact:  # a zero result keeps the sign of x (float mode follows qonnx's formulas)
                assert np.array_equal(np.signbit(got), np.signbit(np.array(w, np.float64))), mode
    r32 = core.round_float32(x.astype(np.float32), "ROUND")
    assert r32.dtype == np.float32 and np.array_equal(r32, np.round(x.astype(np.float32)))
    with pytest.raises(bitsmith.UnsupportedError, match="unknown rounding mode"):
        core.round(x, "NEAREST")
    with pytest.raises(TypeError):
        core.round(x.astype(np.float32), "ROUND")


def test_round_exact_differs_from_float_half_up():
    # 0.49999999999999994 + 0.5 rounds up to 1.0 in double: numpy-style HALF_UP gives 1,
    # the decision on the true value gives 0.
    x = np.array([0.49999999999999994])
    assert core.round(x, "HALF_UP", exact=True)[0] == 0
    assert core.round(x, "HALF_UP", exact=False)[0] == 1


def test_int_range():
    assert core.int_range(4, True, False) == (-8, 7)
    assert core.int_range(4, True, True) == (-7, 7)
    assert core.int_range(4, False, False) == (0, 15)
    assert core.int_range(8, False, True) == (0, 254)
    with pytest.raises(bitsmith.UnsupportedError):
        core.int_range(0, True, False)


def test_int_quant_matches_qonnx():
    quant = pytest.importorskip("qonnx.custom_op.general.quant").quant
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 6)) * 4).astype(np.float32)
    x[0, :4] = [0.25, 0.75, -1.25, 3.75]  # exact ties at scale 0.5
    scale = np.float32([0.5, 0.25, 0.125, 1.0, 0.375, 0.1]).reshape(1, 6)
    zero = np.float32(0.0)
    for mode in MODES:
        for signed, narrow, bits in [(True, False, 4), (True, True, 3), (False, False, 5), (True, False, 1)]:
            want = quant(x, scale, zero, np.float32(bits), signed, narrow, mode)
            got = core.int_quant(x, scale, zero, bits, signed, narrow, mode, exact=False)
            assert got.dtype == np.float32 and got.shape == (5, 6)
            assert np.array_equal(got, want.astype(np.float32)), (mode, signed, narrow, bits)
            exact = core.int_quant(x, scale, zero, bits, signed, narrow, mode)
            if bits > 1:
                q = core.int_quant_level(x, scale, zero, bits, signed, narrow, mode)
                assert q.dtype == np.int64
                lo, hi = core.int_range(bits, signed, narrow)
                assert q.min() >= lo and q.max() <= hi
                assert np.array_equal(exact, (q * scale.astype(np.float64)).astype(np.float32))


def test_int_quant_level_rejects_nan():
    with pytest.raises(bitsmith.Error):
        core.int_quant_level(np.float32([np.nan]), np.float32(1), np.float32(0), 4, True, False, "ROUND")
