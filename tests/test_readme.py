"""The README's Python examples run as written (those that need no training run or data set).

Blocks run in order in one namespace, as a reader pastes them; a block that trains on
MNIST or reads the example's output files is left out (test_examples.py runs those
scripts), and the ONNX blocks run when onnx is installed (one reads a PyTorch file of
tests/data, from the repository's root). The GPU block runs on the CuPy stand-in of
tests/strict_array.py (or on a real GPU where there is one).
"""
import os
import re

import pytest

from minicnn import devices
from strict_array import strict

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def python_blocks():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_the_readme_has_its_examples():
    assert len(python_blocks()) >= 5


def test_the_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                    # the examples write cnn.npz, edges.png, ...
    namespace, ran = {}, 0
    for block in python_blocks():
        if "load_mnist" in block or "runs/mnist" in block:
            continue
        if "minicnn.onnx" in block:
            pytest.importorskip("onnx")
        if "tests/data/" in block:                 # reads a file of the repository, as from its root
            monkeypatch.chdir(os.path.dirname(README))
        if '"cuda"' in block:
            try:
                devices.gpu_module()
            except devices.DeviceError:           # no GPU here: the stand-in plays it
                monkeypatch.setattr(devices, "_gpu", strict)
        exec(compile(block, README, "exec"), namespace)
        monkeypatch.chdir(tmp_path)
        ran += 1
    assert ran >= 5
    assert os.path.exists("cnn.npz") and os.path.exists("edges.png") and os.path.exists("model.onnx")
    assert os.path.exists("gpu.npz")
