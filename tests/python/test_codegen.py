"""Code generation round trips: every model of the Brevitas test zoo and the shared
models, compiled for both targets, built with the host compiler (hls against the
ap_types headers inside hls4ml) and compared with the exact engine on 10,000
inputs: `bitsmith verify` must report 0 mismatches. Plus the command line's
errors: unsupported constructs named, atomic output folders, usage errors."""

import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import zoo
from test_cli import CLI
from test_qonnx_diff import zoo_dir  # noqa: F401 (fixture)

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "models"
SAMPLES = 10000

pytestmark = pytest.mark.skipif(CLI is None, reason="the bitsmith CLI is not built (set BITSMITH_CLI)")

# Minifloat quantizers have no integer form: the compile names the node.
MINIFLOAT = {"fp8_e4m3", "fp8_e5m2", "fp4_e2m1"}


def have_compiler():
    return shutil.which(os.environ.get("CXX", "c++")) is not None


def ap_types():
    try:
        import hls4ml
    except ImportError:
        return None
    path = pathlib.Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    return str(path) if (path / "ap_int.h").exists() else None


needs_cxx = pytest.mark.skipif(not have_compiler(), reason="no C++ compiler ($CXX or c++)")


def cli(*args, env=None, cwd=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([os.path.abspath(CLI), *map(str, args)], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=600)


def verify(path, target, *extra):
    env = {}
    if target == "hls":
        ap = ap_types()
        if ap is None:
            pytest.skip("hls4ml (with its ap_types headers) is not installed")
        env["BITSMITH_AP_TYPES"] = ap
    r = cli("verify", path, "--target", target, "--samples", SAMPLES, "--json", *extra, env=env)
    assert r.returncode in (0, 1), r.stderr
    out = json.loads(r.stdout)
    assert out["samples"] == SAMPLES
    assert out["values"] > 0
    assert out["mismatches"] == 0, out["examples"]
    assert r.returncode == 0
    return out


ZOO_NAMES = [m.name for m in zoo.ZOO]


@needs_cxx
@pytest.mark.parametrize("target", ["cpp", "hls"])
@pytest.mark.parametrize("name", ZOO_NAMES)
def test_zoo(name, target, zoo_dir):
    path = zoo.exported(name, zoo_dir)
    if name in MINIFLOAT:
        r = cli("compile", path, "--target", target, "-o", pathlib.Path(zoo_dir) / f"{name}-{target}")
        assert r.returncode == 1
        assert "FloatQuant" in r.stderr and "minifloat" in r.stderr
        assert not (pathlib.Path(zoo_dir) / f"{name}-{target}").exists()
        return
    verify(path, target)


SHARED_MODELS = sorted(SHARED.glob("*.onnx")) if SHARED.is_dir() else []


@needs_cxx
@pytest.mark.skipif(not SHARED_MODELS, reason=f"the shared models folder {SHARED} is absent")
@pytest.mark.parametrize("target,io", [("cpp", None), ("hls", "parallel"), ("hls", "stream")])
@pytest.mark.parametrize("path", SHARED_MODELS, ids=lambda p: p.stem)
def test_shared(path, target, io):
    extra = ("--io", io) if io else ()
    verify(path, target, *extra)


@needs_cxx
@pytest.mark.skipif(not SHARED_MODELS, reason=f"the shared models folder {SHARED} is absent")
def test_given_inputs_and_cut_tail(tmp_path):
    """--input FILE.npy / FILE.npz instead of random inputs; --cut-float-tail drops the Softmax."""
    jet = SHARED / "jettagging_qkeras_6b.onnx"
    if not jet.exists():
        pytest.skip("jet tagger absent")
    x = np.random.default_rng(3).standard_normal((257, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = cli("verify", jet, "--input", tmp_path / "x.npy", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 257
    np.savez(tmp_path / "x.npz", global_in=x[:100])
    r = cli("verify", jet, "--input", tmp_path / "x.npz", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 100
    np.savez_compressed(tmp_path / "c.npz", global_in=x)
    r = cli("verify", jet, "--input", tmp_path / "c.npz")
    assert r.returncode == 1 and "np.savez" in r.stderr
    r = cli("compile", jet, "--cut-float-tail", "-o", tmp_path / "cut")
    assert r.returncode == 0, r.stderr
    assert "Softmax" in r.stdout  # the note says what was left out
    source = (tmp_path / "cut" / "jettagging_qkeras_6b.cc").read_text()
    assert "std::exp" not in source
    r = cli("verify", jet, "--cut-float-tail", "--samples", 500, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["mismatches"] == 0


@needs_cxx
def test_cpp_project_builds_with_cmake_and_clang(tmp_path, zoo_dir):
    """The project's own CMakeLists.txt and -Wall -Wextra -Werror -pedantic in g++ and clang."""
    path = zoo.exported("residual_add", zoo_dir)
    out = tmp_path / "proj"
    r = cli("compile", path, "--name", "resnet_tiny", "-o", out)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir() if p.name != ".bitsmith-project")
    assert names == ["CMakeLists.txt", "README.md", "bitsmith_int.h", "bitsmith_rt.h",
                     "resnet_tiny.cc", "resnet_tiny.h", "testbench.cc"]
    source = (out / "resnet_tiny.cc").read_text()
    for forbidden in ("malloc", "new ", "throw", "std::vector", "float acc"):
        assert forbidden not in source
    assert "Conv" in source  # layer names from the model in comments and identifiers
    for cxx in ("g++", "clang++"):
        if shutil.which(cxx) is None:
            continue
        exe = tmp_path / f"tb-{cxx}"
        r = subprocess.run([cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic",
                            "-fno-exceptions", str(out / "resnet_tiny.cc"), "-c", "-o",
                            str(tmp_path / f"m-{cxx}.o")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        del exe
    if shutil.which("cmake"):
        r = subprocess.run(["cmake", "-S", str(out), "-B", str(tmp_path / "b")], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["cmake", "--build", str(tmp_path / "b")], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (tmp_path / "b" / "resnet_tiny_tb").exists()


def test_hls_project_layout(tmp_path, zoo_dir):
    path = zoo.exported("conv_per_channel_float", zoo_dir)
    out = tmp_path / "hls"
    r = cli("compile", path, "--target", "hls", "--io", "stream", "--reuse", "4", "--strategy",
            "resource", "--part", "xc7z020clg400-1", "--clock", "10", "-o", out)
    assert r.returncode == 0, r.stderr
    top = (out / "firmware" / "conv_per_channel_float.cpp").read_text()
    assert "hls::stream" in (out / "firmware" / "conv_per_channel_float.h").read_text()
    assert "#pragma HLS DATAFLOW" in top and "#pragma HLS PIPELINE II=4" in top
    assert "ap_int<" in (out / "firmware" / "conv_per_channel_float.h").read_text()
    tcl = (out / "build_prj.tcl").read_text()
    assert "set_part {xc7z020clg400-1}" in tcl and "create_clock -period 10" in tcl
    assert "csynth_design" in tcl and "set_top conv_per_channel_float" in tcl


def test_errors_and_atomic_output(tmp_path, zoo_dir):
    path = zoo.exported("linear_4bit", zoo_dir)
    # Usage errors: exit 2.
    for args in (["compile", path], ["compile", path, "-o", tmp_path / "x", "--target", "fpga"],
                 ["compile", path, "-o", tmp_path / "x", "--io", "axi"],
                 ["compile", path, "-o", tmp_path / "x", "--reuse", "0"],
                 ["compile", path, "-o", tmp_path / "x", "--name", "1bad name"],
                 ["verify", path, "--samples", "-3"]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
    # A folder bitsmith did not write is never overwritten.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    r = cli("compile", path, "-o", foreign)
    assert r.returncode == 1 and "not empty" in r.stderr
    assert (foreign / "keep.txt").read_text() == "mine"
    # A failed compile leaves nothing behind, and an earlier project stays whole.
    good = tmp_path / "proj"
    assert cli("compile", path, "-o", good).returncode == 0
    before = sorted(p.name for p in good.iterdir())
    bad = zoo.exported("fp8_e4m3", zoo_dir)
    r = cli("compile", bad, "-o", good)
    assert r.returncode == 1 and "FloatQuant" in r.stderr
    assert sorted(p.name for p in good.iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # Recompiling over its own earlier output is allowed.
    assert cli("compile", path, "-o", good, "--target", "hls").returncode == 0
    assert (good / "build_prj.tcl").exists() and not (good / "testbench.cc").exists()
    # A malformed model: one message naming the file.
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    r = cli("compile", broken, "-o", tmp_path / "b")
    assert r.returncode == 1 and "broken.onnx" in r.stderr
    assert not (tmp_path / "b").exists()


@needs_cxx
@pytest.mark.parametrize("target", ["cpp", "hls"])
def test_python_api(target, tmp_path, zoo_dir):
    """bitsmith.compile -> build -> predict, as hls4ml's convert -> compile -> predict."""
    import bitsmith

    if target == "hls" and ap_types() is None:
        pytest.skip("hls4ml (with its ap_types headers) is not installed")
    path = zoo.exported("maxpool", zoo_dir)
    model = bitsmith.load(path)
    project = bitsmith.compile(model, tmp_path / "p", target=target, io="stream", reuse_factor=2)
    assert project.name == "maxpool" and project.steps and project.inputs[0][1][0] == 1
    x = np.random.default_rng(5).standard_normal((64, *project.inputs[0][1][1:])).astype(np.float32) * 2
    y = project.predict(x)  # builds first
    want = model(x)
    assert y.shape == want.shape
    np.testing.assert_array_equal(y, want)
    with pytest.raises(ValueError, match="target"):
        bitsmith.compile(path, tmp_path / "q", target="fpga")
    with pytest.raises(bitsmith.UnsupportedError, match="FloatQuant"):
        bitsmith.compile(zoo.exported("fp8_e4m3", zoo_dir), tmp_path / "r")
    assert not (tmp_path / "r").exists()


CASES = REPO / "tests" / "python" / "codegen_cases"


@needs_cxx
@pytest.mark.parametrize("target,io", [("cpp", None), ("hls", "parallel"), ("hls", "stream")])
@pytest.mark.parametrize("case", ["conv_zp_out", "dwconv_zp", "gconv", "kw", "in16", "apool1",
                                  "name_clash/conv"])
def test_review_cases(case, target, io):
    """Regression models from review: padding with a zero point outside the input's levels
    (the hls target read it in the input's type), grouped/dilated/strided convolution, a node
    named like a C++ keyword, a node named like the model, a 16-bit float input quantizer,
    padded average pooling."""
    extra = ("--io", io) if io else ()
    r = cli("verify", CASES / f"{case}.onnx", "--target", target, "--samples", 2000, "--json", *extra,
            env={"BITSMITH_AP_TYPES": ap_types() or ""})
    if target == "hls" and ap_types() is None:
        pytest.skip("hls4ml (with its ap_types headers) is not installed")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mismatches"] == 0


@pytest.mark.parametrize("case,message", [
    ("dup_out", "listed twice"),
    ("softmax_two_out", "input of the final Softmax"),
    ("in24", "at most 16 bits"),
])
def test_review_refusals(case, message, tmp_path):
    r = cli("compile", CASES / f"{case}.onnx", "-o", tmp_path / "p")
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert not (tmp_path / "p").exists()


def test_output_folder_spellings(tmp_path):
    """-o DIR/ (trailing slash) and a relative folder work; the folder holds the project."""
    model = CASES / "gconv.onnx"
    r = cli("compile", model, "-o", str(tmp_path / "a") + "/")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a" / "gconv.cc").exists()
    r = cli("compile", model, "-o", "rel", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rel" / "gconv.h").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "rel"]  # no temporary folders left
