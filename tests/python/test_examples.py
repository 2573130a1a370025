"""The QAT examples (examples/qat_*.py) run end to end with --quick: training, export, and the
bitsmith engine agreeing with the PyTorch eval forward in float and exact mode."""

import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FASHION = pathlib.Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")

pytest.importorskip("torch")
pytest.importorskip("tqdm")


def run_example(name):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


def check_agreement(out, models):
    for model in models:
        for mode in ("float", "exact"):
            line = re.search(rf"\[{model}\] engine-vs-PyTorch \({mode}\): (\w+)", out)
            assert line, f"no {mode} engine check for {model}:\n{out}"
            assert line.group(1) == "AGREE", out
        # The engine's accuracy, printed next to PyTorch's on the same images, differs from it
        # by at most the counted differing predictions (each one a float-boundary case).
        found = re.findall(rf"\[{model}\] bitsmith \w+ *: accuracy ([\d.]+)% on (\d+) images "
                           r"\(PyTorch on the same images ([\d.]+)%\), predictions differing from PyTorch: (\d+)/",
                           out)
        assert len(found) == 2, out
        for eng, n, ref, differ in found:
            assert abs(float(eng) - float(ref)) <= 100 * int(differ) / int(n) + 0.005, out


def test_qat_digits_quick():
    pytest.importorskip("sklearn")
    out = run_example("qat_digits.py")
    assert "float CNN" in out
    check_agreement(out, ["cnn_w4a4", "cnn_w2a2", "binary_mlp"])


@pytest.mark.skipif(not FASHION.exists(),
                    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
def test_qat_fashion_mnist_quick():
    out = run_example("qat_fashion_mnist.py")
    assert "float CNN" in out
    check_agreement(out, ["cnn_w4a4", "cnn_w2a2"])
