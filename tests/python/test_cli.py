"""The `bitsmith` command line: help, inspect, run, .npy/.npz handling, exit codes
(1 for a bitsmith error, 2 for a usage error), and error messages identical to the
Python front's exceptions."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tiny_models

REPO = pathlib.Path(__file__).resolve().parents[2]


def find_cli():
    candidates = [
        os.environ.get("BITSMITH_CLI"),
        pathlib.Path(sys.executable).parent / "bitsmith",  # installed by the wheel into the venv
        REPO / "build" / "py" / "bitsmith",
        shutil.which("bitsmith"),
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK) and not os.path.isdir(c):
            return str(c)
    return None


CLI = find_cli()
pytestmark = pytest.mark.skipif(CLI is None, reason="the bitsmith CLI is not built (set BITSMITH_CLI)")


def cli(*args, cwd=None):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def cli_error(*args):
    """Runs a command that must fail with a bitsmith error; returns (class name, message)."""
    r = cli(*args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stdout == ""
    line = r.stderr.rstrip("\n")
    assert line.startswith("bitsmith: "), line
    cls, _, msg = line[len("bitsmith: ") :].partition(": ")
    return cls, msg


@pytest.fixture
def tiny(tmp_path):
    return tiny_models.save(tiny_models.tiny(batch="N"), tmp_path / "tiny.onnx")


def npy(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def rand(*shape, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)


# --- help, version, usage errors ----------------------------------------------------


def test_help_and_version():
    r = cli("--help")
    assert r.returncode == 0 and "inspect" in r.stdout and "run" in r.stdout
    for cmd in ("inspect", "run"):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: bitsmith {cmd}")
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("bitsmith ")
    bitsmith = pytest.importorskip("bitsmith")
    assert r.stdout.split()[1] == bitsmith.__version__


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["inspect"],
        ["inspect", "a.onnx", "b.onnx"],
        ["inspect", "a.onnx", "--bogus"],
        ["run", "MODEL", "--mode", "fast"],
        ["run", "MODEL", "--mode"],
        ["run", "MODEL", "--json=yes"],
        ["run"],
    ],
)
def test_usage_errors_exit_2(args, tiny):
    args = [tiny if a == "MODEL" else a for a in args]
    r = cli(*args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() and r.stdout == ""


def test_multi_input_needs_names(tmp_path):
    two = tiny_models.save(tiny_models.two_inputs(), tmp_path / "two.onnx")
    a = npy(tmp_path, "a.npy", rand(1, 4))
    r = cli("run", two, "--input", a)
    assert r.returncode == 2 and "NAME=FILE.npy" in r.stderr
    r = cli("run", two, "--input", f"a={a}", "--input", f"a={a}")
    assert r.returncode == 2 and "twice" in r.stderr
    r = cli("run", two, "--input", f"a={a}", "--input", f"b={a}", "--json")
    assert r.returncode == 0, r.stderr
    want = 2 * tiny_models.quant_ref(np.load(a))
    assert np.array_equal(np.float32(json.loads(r.stdout)["outputs"][0]["values"]), want.ravel())


# --- inspect -------------------------------------------------------------------------


def test_inspect_text(tiny):
    r = cli("inspect", tiny)
    assert r.returncode == 0, r.stderr
    for word in ("q_in", "relu", "MatMul", "SCALEDINT<3>", "layers (1)", "12 parameters", "36 bits"):
        assert word in r.stdout, word


def test_inspect_json(tiny):
    r = cli("inspect", tiny, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["source"] == tiny
    assert info["inputs"] == [{"name": "x", "shape": [None, 4], "dtype": "float32", "qtype": "FLOAT32"}]
    assert [n["name"] for n in info["nodes"]] == ["q_in", "relu", "q_w", "mm"] or len(info["nodes"]) == 4
    (layer,) = info["layers"]
    assert layer["name"] == "mm" and layer["op_type"] == "MatMul"
    assert layer["weight"]["shape"] == [4, 3] and layer["weight"]["params"] == 12
    assert layer["weight"]["bits"] == 3 and layer["weight"]["quant_node"] == "q_w"
    assert layer["bias"] is None
    assert info["totals"]["params"] == 12 and info["totals"]["parameter_bits"] == 36


def test_inspect_conv_gemm_layers(tmp_path):
    path = tiny_models.save(tiny_models.conv_gemm(), tmp_path / "cg.onnx")
    r = cli("inspect", path, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    conv, fc = info["layers"]
    assert (conv["name"], conv["op_type"], fc["name"], fc["op_type"]) == ("conv", "Conv", "fc", "Gemm")
    assert conv["weight"]["shape"] == [3, 2, 3, 3] and conv["weight"]["bits"] == 4
    assert conv["bias"]["params"] == 3 and conv["bias"]["bits"] == 8 and conv["bias"]["quant_node"] == "q_bc"
    assert fc["weight"]["params"] == 108 and fc["weight"]["bits"] == 32 and fc["weight"]["quant_node"] == ""
    assert fc["bias"]["params"] == 4
    assert info["totals"]["params"] == 54 + 3 + 108 + 4
    assert info["totals"]["parameter_bits"] == 54 * 4 + 3 * 8 + 108 * 32 + 4 * 32
    r = cli("inspect", path)
    assert r.returncode == 0 and "total: 2 layers, 169 parameters (162 weights, 7 biases)" in r.stdout


# --- run -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exact", "float"])
def test_run_json_matches_python(tiny, tmp_path, mode):
    x = rand(5, 4)
    r = cli("run", tiny, "--input", f"x={npy(tmp_path, 'x.npy', x)}", "--mode", mode, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mode"] == mode
    (y,) = out["outputs"]
    assert y["name"] == "y" and y["shape"] == [5, 3] and y["dtype"] == "float32"
    want = tiny_models.tiny_ref(x)
    assert np.array_equal(np.array(y["values"], np.float32).reshape(5, 3), want)
    assert y["min"] == want.min() and y["max"] == want.max()
    bitsmith = pytest.importorskip("bitsmith")
    assert np.array_equal(bitsmith.load(tiny)(x, mode=mode), want)


def test_inspect_errors(tmp_path):
    cls, msg = cli_error("inspect", tmp_path / "missing.onnx")
    assert cls == "IoError" and msg.startswith(f"{tmp_path / 'missing.onnx'}: ")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07\xff\xff junk")
    cls, msg = cli_error("inspect", junk, "--json")
    assert cls == "ParseError" and str(junk) in msg


def test_run_allow_nan(tiny, tmp_path):
    x = rand(2, 4)
    x[1, 1] = np.nan
    path = npy(tmp_path, "x.npy", x)
    cls, msg = cli_error("run", tiny, "--input", path)
    assert cls == "InputError" and "NaN" in msg
    r = cli("run", tiny, "--input", path, "--allow-nan", "--json")
    assert r.returncode == 0, r.stderr
    (y,) = json.loads(r.stdout)["outputs"]
    assert y["shape"] == [2, 3]


def test_run_text_without_name(tiny, tmp_path):
    r = cli("run", tiny, "--input", npy(tmp_path, "x.npy", rand(2, 4)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("y: (2, 3) float32")


def test_run_npz_output(tiny, tmp_path):
    x = rand(3, 4)
    out = tmp_path / "out.npz"
    r = cli("run", tiny, "--input", f"x={npy(tmp_path, 'x.npy', x)}", "--output", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z.files == ["y"]
        assert z["y"].dtype == np.float32 and np.array_equal(z["y"], tiny_models.tiny_ref(x))
    # Every value, and a zip that Python's own zipfile checks (CRC included).
    r = cli("run", tiny, "--input", f"x={npy(tmp_path, 'x.npy', x)}", "--output", out, "--intermediates")
    assert r.returncode == 0, r.stderr
    import zipfile

    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
    with np.load(out) as z:
        assert {"x", "xq", "xr", "Wq", "y"} <= set(z.files)
        assert np.array_equal(z["x"], x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz", "tiny.onnx", "x.npy"]


def test_npz_write_failure_leaves_nothing(tiny, tmp_path):
    x = npy(tmp_path, "x.npy", rand(1, 4))
    cls, msg = cli_error("run", tiny, "--input", x, "--output", tmp_path / "no" / "such" / "out.npz")
    assert cls == "IoError" and "out.npz" in msg
    assert not (tmp_path / "no").exists()


# --- malformed .npy inputs -------------------------------------------------------------


def npy_bytes(header, data=b"", magic=b"\x93NUMPY\x01\x00"):
    h = header.encode()
    return magic + len(h).to_bytes(2, "little") + h + data


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "bad magic"),
        (b"not a numpy file at all", "bad magic"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }\n", b"\0" * 8), "truncated data"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }\n", b"\0" * 20), "unexpected bytes"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, }\n"), "'shape' is missing"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4), }\n", b"\0" * 16), "trailing comma"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 4), }\n", b"\0" * 16), "Fortran"),
        (npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 4), }\n", b"\0" * 16), "big-endian"),
        (npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 4), }\n", b"\0" * 16), "unsupported dtype"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, -4), }\n"), "non-negative"),
        (npy_bytes("{'descr': '<f4', 'shape': (1, 4), 'extra': 1, }\n"), "unexpected key"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }"), "newline"),
        (npy_bytes("{'descr': '<f4'", magic=b"\x93NUMPY\x09\x00"), "version"),
        (b"\x93NUMPY\x01\x00\xff\x00{'descr'", "truncated .npy header"),
    ],
)
def test_malformed_npy(tiny, tmp_path, content, reason):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(content)
    cls, msg = cli_error("run", tiny, "--input", f"x={bad}")
    assert cls == "IoError"
    assert msg.startswith(f"{bad}: ") and reason in msg, msg


# --- the same errors, the same words, in the CLI and in Python --------------------------


def error_cases(tmp_path, tiny):
    data = pathlib.Path(tiny).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(7).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    nan = rand(2, 4)
    nan[0, 1] = np.nan
    return {
        "wrong name": (tiny, "nope", rand(2, 4)),
        "wrong shape": (tiny, "x", rand(2, 5)),
        "wrong rank": (tiny, "x", rand(8)),
        "float64": (tiny, "x", rand(2, 4).astype(np.float64)),
        "int64": (tiny, "x", np.zeros((2, 4), np.int64)),
        "nan": (tiny, "x", nan),
        "truncated model": (str(truncated), "x", rand(2, 4)),
        "random bytes": (str(noise), "x", rand(2, 4)),
        "missing model": (str(tmp_path / "missing.onnx"), "x", rand(2, 4)),
    }


CASES = ["wrong name", "wrong shape", "wrong rank", "float64", "int64", "nan", "truncated model", "random bytes",
         "missing model"]
EXPECTED = {"wrong name": "InputError", "wrong shape": "InputError", "wrong rank": "InputError",
            "float64": "InputError", "int64": "InputError", "nan": "InputError", "truncated model": "ParseError",
            "missing model": "IoError"}


@pytest.mark.parametrize("case", CASES)
def test_errors_match_python(tiny, tmp_path, case):
    bitsmith = pytest.importorskip("bitsmith")
    model_path, name, array = error_cases(tmp_path, tiny)[case]
    cls, msg = cli_error("run", model_path, "--input", f"{name}={npy(tmp_path, 'in.npy', array)}")
    if case in EXPECTED:
        assert cls == EXPECTED[case], msg
    with pytest.raises(bitsmith.Error) as e:
        bitsmith.load(model_path).run({name: array})
    assert type(e.value).__name__ == cls
    assert isinstance(e.value, getattr(bitsmith, cls))
    assert str(e.value) == msg
    if case == "float64":
        assert msg == f"{tiny}: input 'x' must be float32, got float64"
