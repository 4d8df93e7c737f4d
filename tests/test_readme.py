"""The README and the pages of docs/: their Python examples run as written, their links lead somewhere.

Each page's blocks run in order in one namespace, as a reader pastes them; a block that
trains on MNIST or reads the example's output files is left out (test_examples.py runs
those scripts), and the ONNX blocks run when onnx is installed (one reads a PyTorch file
of tests/data, from the repository's root). The GPU blocks run on the CuPy stand-in of
tests/strict_array.py (or on a real GPU where there is one).

Links: every relative link of a Markdown page of the repository (README.md, docs/,
examples/tutorial/, benchmarks/) names a file or folder that exists, and its #anchor a
heading of that page (GitHub's rule: lower case, punctuation dropped, spaces as hyphens).
"""
import glob
import os
import re

import pytest
from strict_array import strict

from minicnn import devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
PAGES = [README, *DOCS, os.path.join(ROOT, "examples", "tutorial", "README.md"),
         os.path.join(ROOT, "benchmarks", "README.md")]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", read(path), re.S)


def run_blocks(path, tmp_path, monkeypatch):
    """Run a page's Python blocks in one namespace; returns how many ran."""
    monkeypatch.chdir(tmp_path)                    # the examples write cnn.npz, edges.png, ...
    namespace, ran = {}, 0
    for block in python_blocks(path):
        if "load_mnist" in block or "runs/mnist" in block:
            continue
        if "minicnn.onnx" in block:
            pytest.importorskip("onnx")
        if "tests/data/" in block:                 # reads a file of the repository, as from its root
            monkeypatch.chdir(ROOT)
        if '"cuda"' in block:
            try:
                devices.gpu_module()
            except devices.DeviceError:           # no GPU here: the stand-in plays it
                monkeypatch.setattr(devices, "_gpu", strict)
        exec(compile(block, path, "exec"), namespace)
        monkeypatch.chdir(tmp_path)
        ran += 1
    return ran


def test_the_readme_has_its_examples():
    assert len(python_blocks(README)) >= 3


def test_the_readme_is_a_front_page():
    assert len(read(README).splitlines()) <= 200
    for page in DOCS:                              # and it leads to every page of docs/
        assert f"(docs/{os.path.basename(page)})" in read(README), page


def test_the_readme_examples_run(tmp_path, monkeypatch):
    assert run_blocks(README, tmp_path, monkeypatch) >= 2
    assert os.path.exists("cnn.npz") and os.path.exists("edges.png")


@pytest.mark.parametrize("page", [os.path.basename(p) for p in DOCS])
def test_the_docs_examples_run(page, tmp_path, monkeypatch):
    run_blocks(os.path.join(ROOT, "docs", page), tmp_path, monkeypatch)
    written = {"onnx.md": "model.onnx", "gpu.md": "gpu.npz"}
    if page in written:
        assert os.path.exists(written[page])


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    return {slug(h) for h in re.findall(r"(?m)^#{1,6} (.+)$", text)}


def links(path):
    text = re.sub(r"```.*?```", "", read(path), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", [os.path.relpath(p, ROOT) for p in PAGES])
def test_the_links_lead_somewhere(page):
    path = os.path.join(ROOT, page)
    checked = 0
    for target in links(path):
        if re.match(r"[a-z]+:", target):           # http(s), mailto: not followed (no internet)
            continue
        file, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        assert os.path.exists(dest), f"{page}: link {target!r} names {os.path.relpath(dest, ROOT)}, which does not exist"
        if anchor:
            assert os.path.isfile(dest) and dest.endswith(".md"), f"{page}: link {target!r} has an anchor into a non-page"
            assert anchor in anchors(dest), f"{page}: link {target!r}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}"
        checked += 1
    if page == "README.md":
        assert checked >= 8


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A heading\n\n[ok](#a-heading) [bad](#no-such) [gone](missing.md)\n")
    assert "a-heading" in anchors(str(page)) and "no-such" not in anchors(str(page))
    assert not os.path.exists(tmp_path / "missing.md")
