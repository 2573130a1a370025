"""Checks of the test machinery itself, runnable without bitsmith: the float-boundary
proof (float_proof.py) accepts what it should and rejects what it must, and the Fraction
oracle (exact_oracle.py) agrees with qonnx wherever float32 is exact."""

import numpy as np
import pytest

from float_proof import FloatProof, Unexplained


def test_boundary_proof_rejects_a_real_difference():
    """The proof must not explain everything: a Quant whose input is identical but whose
    output differs, and an exact op that differs, are both rejected."""
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("Quant", ["r", "s", "z", "b"], ["y"], name="q", domain="qonnx.custom_op.general",
                          signed=1, narrow=0, rounding_mode="ROUND")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    m = helper.make_model(g)
    x = np.array([0.5, 1.0, 2.5], np.float32)
    s, z, b = np.float32(1), np.float32(0), np.float32(8)
    Q = {"x": x, "r": x, "s": s, "z": z, "b": b, "y": np.array([0, 1, 2], np.float32)}
    B = dict(Q, y=np.array([1, 1, 2], np.float32))
    with pytest.raises(Unexplained, match="identical inputs"):
        FloatProof(m, Q, B, "t").run()
    B = dict(Q, r=np.array([0.5, 1.0, 2.5000002], np.float32))
    with pytest.raises(Unexplained, match="exact in float32"):
        FloatProof(m, Q, B, "t").run()


def _gemm_quant_model():
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["a"], name="mm"),
         helper.make_node("Quant", ["a", "s", "z", "b"], ["y"], name="q", domain="qonnx.custom_op.general",
                          signed=1, narrow=0, rounding_mode="ROUND")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])])
    return helper.make_model(g)


def test_boundary_proof_accepts_a_tie_crossing_and_rejects_a_big_step():
    m = _gemm_quant_model()
    x = np.array([[1.0, 1.0, 1.0]], np.float32)
    w = np.array([[1.25], [0.75], [0.5]], np.float32)  # exact sum 2.5: a ROUND tie
    s, z, b = np.float32(1), np.float32(0), np.float32(8)
    Q = {"x": x, "w": w, "s": s, "z": z, "b": b, "a": np.array([[2.5]], np.float32),
         "y": np.array([[2.0]], np.float32)}
    # Another summation order may land one ulp away and round up: a proven boundary case.
    B = dict(Q, a=np.array([[np.nextafter(np.float32(2.5), np.float32(3))]]), y=np.array([[3.0]], np.float32))
    proof = FloatProof(m, Q, B, "t").run()
    assert proof.boundary_cases == 1 and proof.inexact_diffs == 1
    # A difference far beyond the summation error bound is not explained.
    B = dict(Q, a=np.array([[2.75]], np.float32), y=np.array([[3.0]], np.float32))
    with pytest.raises(Unexplained, match="error bound"):
        FloatProof(m, Q, B, "t").run()
    # Nor is a rounding change far from any tie.
    Q2 = dict(Q, a=np.array([[2.25]], np.float32), y=np.array([[2.0]], np.float32))
    B = dict(Q2, a=np.array([[np.nextafter(np.float32(2.25), np.float32(3))]]), y=np.array([[3.0]], np.float32))
    with pytest.raises(Unexplained, match="not rounding-boundary cases"):
        FloatProof(m, Q2, B, "t").run()


def test_fraction_to_float32_rounds_to_nearest_even():
    from fractions import Fraction

    from fraction_ref import to_float32

    one_ulp = Fraction(1, 2**23)
    assert to_float32(1 + one_ulp / 2) == 1.0  # tie: to even
    assert to_float32(1 + 3 * one_ulp / 2) == np.float32(1 + 2 * float(one_ulp))
    assert to_float32(1 + one_ulp / 2 + Fraction(1, 2**60)) == np.nextafter(np.float32(1), np.float32(2))
    assert to_float32(Fraction(1, 3)) == np.float32(1 / 3)
    assert to_float32(Fraction(2**-149) / 2) == 0.0 and to_float32(Fraction(3, 2**151)) == np.float32(2.0**-149)
    assert to_float32(Fraction(2**128)) == np.inf and to_float32(-Fraction(2**128)) == -np.inf
    rng = np.random.default_rng(0)
    for v in rng.standard_normal(200) * 10.0 ** rng.integers(-40, 38, 200):
        assert to_float32(Fraction(float(v))) == np.float32(v)  # numpy rounds double->float32 correctly


@pytest.mark.parametrize("name", ["conv_power_of_two", "trunc_avgpool", "fp8_e4m3", "fp4_e2m1"])
def test_oracle_agrees_with_qonnx_where_float32_is_exact(name, tmp_path):
    """Power-of-two scales, binary values, FP8 and small integer accumulators: qonnx's
    float32 execution is exact there, so the Fraction oracle must give the same bits."""
    pytest.importorskip("brevitas")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    import zoo
    from exact_oracle import run_exact
    from fraction_ref import same, to_float32_array

    mw = cleanup_model(ModelWrapper(zoo.exported(name, tmp_path)))
    iname = mw.graph.input[0].name
    for x in zoo.BY_NAME[name].inputs(2, seed=8):
        if name.startswith("fp"):
            x = np.round(x * 4) / 4  # keep the first quantizer's input exact
        ref = execute_onnx(mw, {iname: x}, return_full_exec_context=True)
        env = run_exact(mw.model, {iname: x})
        for node in mw.graph.node:
            if node.op_type in ("Quant", "BipolarQuant", "Trunc", "FloatQuant"):
                v = node.output[0]
                assert same(to_float32_array(env[v], env[v].shape), ref[v]), (name, node.name)
