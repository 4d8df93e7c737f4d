"""Damaged files: every way a saved model or an exported ONNX file can be damaged ends
in minicnn's own ValueError naming the file, or in a load of exactly what was saved.

- Every character of every member's .npy header (the text of a Python dict, which
  NumPy parses as a literal) replaced by a quote, a bracket, a NUL, a byte > 127..., and
  the member cut at every character: "not a minicnn model file" naming the file and
  the member, never NumPy's ``TokenError``/``SyntaxError`` or its texts.
- 300 saved models (a Conv2D + BatchNorm model, residual blocks with BatchNorm, a
  Dense/Dropout stack) with bit flips and truncations, a third of them aimed at a header.
- 300 exported ONNX files (a Conv2D + BatchNorm model, one of residual blocks, and one
  whose weights lie in a file beside it, so its offsets and lengths get damaged too)
  with bit flips and truncations: no raw error, no hang, no allocation of 1 GB or more;
  and 300 more of files holding the ops of the mobile and modern networks (#27): minicnn's
  forms of its new layers, and PyTorch's (the If of its LocalResponseNorm, the Split and Slices
  of chunk, the Gathers of its adaptive pooling, training-mode BatchNorm and Dropout).

Each fuzz prints its outcome counts (``pytest -s``).
"""
import collections
import io as _io
import pathlib
import resource
import signal
import tracemalloc
import zipfile

import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L

MUTANTS = 300
NUMPY_WORDS = ("Cannot parse header", "EOF in multi-line", "Header does not contain", "shape is not valid",
               "descr is not a valid", "magic string", "allow_pickle", "literal")


def conv_bn():
    mc.manual_seed(0)
    return mc.Sequential([L.Conv2D(1, 2, 2), L.BatchNorm(2), L.ReLU(), L.Flatten(), L.Dense(8, 3)])


def residual():
    mc.manual_seed(1)
    return mc.Sequential([
        L.Conv2D(1, 2, 3, padding=1),
        L.Residual([L.Conv2D(2, 2, 3, padding=1), L.BatchNorm(2), L.ReLU()]),
        L.Residual([L.Conv2D(2, 3, 1, stride=2), L.BatchNorm(3)], shortcut=[L.Conv2D(2, 3, 1, stride=2)]),
        L.Flatten(), L.Dense(12, 2)])


def branches():
    """Inception's and SENet's layers and the other layers of #18: every new ONNX form."""
    mc.manual_seed(2)
    return mc.Sequential([
        L.Conv2D(1, 4, 3, padding=1, groups=1), L.ReLU6(), L.LocalResponseNorm(3),
        L.Concat([[L.Conv2D(4, 2, 1)], [L.MaxPool2D(3, 1, 1, ceil_mode=True), L.Conv2D(4, 2, 3, padding=1, groups=2)],
                  L.Concat([[L.ReLU()], [L.Sigmoid()]])]),
        L.SqueezeExcitation(12, 3), L.AvgPool2D(2, ceil_mode=True), L.AdaptiveAvgPool2D(2), L.GlobalAvgPool2D(),
        L.Dense(12, 2)])


def mobile():
    """The layers of #27, each in an ONNX form of its own: Normalize (Sub, Div), SiLU (Sigmoid, Mul),
    Hardswish, Hardsigmoid, ChannelShuffle (Reshape, Transpose, Reshape), ChannelSlice (Slice) in a
    Concat with an empty branch, an SE gate with a BatchNorm and SiLU, LocalResponseNorm of even
    size (its decomposition), AdaptiveAvgPool2D of unequal bins (Reshape, MatMul, Reshape), LogSoftmax."""
    mc.manual_seed(3)
    return mc.Sequential([
        L.Normalize((0.5, 0.4), (0.2, 0.3)), L.Conv2D(2, 4, 3, padding=1), L.SiLU(), L.Hardswish(),
        L.ChannelShuffle(2), L.Concat([[], [L.ChannelSlice(1, 3), L.Hardsigmoid()]]),
        L.SqueezeExcitation(6, 2, "SiLU", "Hardsigmoid", batch_norm=True), L.LocalResponseNorm(2),
        L.AdaptiveAvgPool2D(3), L.Flatten(), L.Dense(54, 3), L.LogSoftmax()])


def dense():
    mc.manual_seed(2)
    return mc.Sequential([L.Dense(4, 3), L.ReLU(), L.Dropout(0.5), L.Dense(3, 2)])


MODELS = {"conv-bn": conv_bn, "residual": residual, "dense": dense}


def members(blob):
    """``{name: bytes}`` of a zip archive, in order."""
    with zipfile.ZipFile(_io.BytesIO(blob)) as z:
        return {info.filename: z.read(info) for info in z.infolist()}


def zipped(contents):
    """A valid zip archive (right CRCs) of ``{name: bytes}``."""
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in contents.items():
            z.writestr(name, data)
    return buffer.getvalue()


def header_span(member):
    """``(start, end)`` of a .npy member's header text (after the magic and the length)."""
    length_size = {1: 2, 2: 4}[member[6]]
    start = 8 + length_size
    return start, start + int.from_bytes(member[8:start], "little")


def load_or_refusal(path, expected):
    """``Sequential.load(path)``: 'refused' for minicnn's ValueError naming the file (and
    no NumPy text in it or in its causes), 'unchanged' for a model equal to ``expected``.
    Anything else (another exception, a changed model) fails the test."""
    try:
        model = mc.Sequential.load(path)
    except ValueError as exc:
        message = str(exc)
        assert str(path) in message, message
        for words in NUMPY_WORDS:
            assert words not in message, message
        cause = exc.__cause__
        while cause is not None:
            assert not any(w in str(cause) for w in NUMPY_WORDS), repr(cause)
            cause = cause.__cause__
        return "refused", message
    got = model.state_dict()
    assert model.architecture() == expected.architecture()
    assert sorted(got) == sorted(expected.state_dict())
    for key, value in expected.state_dict().items():
        assert got[key].dtype == value.dtype and np.array_equal(got[key], value), key
    return "unchanged", None


# ---------------------------------------------------------------------------
# 1. .npy headers damaged at each of their characters
# ---------------------------------------------------------------------------
BAD_BYTES = [b"'", b'"', b"[", b"(", b"{", b")", b"\x00", b"\xff", b"\\", b"\n"]


def test_every_character_of_every_npy_header_damaged_is_refused_naming_file_and_member(tmp_path):
    """Each character of each member's header replaced by each of BAD_BYTES, and each
    member cut after each character of its header: the load is refused as "not a minicnn
    model file", naming the file and the member, or (a harmless change, such as a space
    for a newline in the padding) gives back exactly the saved model. Before the fix a
    quote or bracket made NumPy raise ``tokenize.TokenError``."""
    model = mc.Sequential([L.Dense(3, 2)])         # every kind of member: str, JSON, 2-D and 1-D floats
    model.save(tmp_path / "good.npz")
    original = members((tmp_path / "good.npz").read_bytes())
    path = tmp_path / "damaged.npz"
    outcomes = collections.Counter()
    for name, member in original.items():
        start, end = header_span(member)
        for position in range(start, end):
            for damaged in [member[:position]] + [member[:position] + bad + member[position + 1:]
                                                  for bad in BAD_BYTES if bad != member[position:position + 1]]:
                path.write_bytes(zipped(dict(original, **{name: damaged})))
                outcome, message = load_or_refusal(path, model)
                outcomes[outcome] += 1
                if outcome == "refused":
                    assert "not a minicnn model file" in message, message
                    assert repr(name[:-4]) in message, message
    print(dict(outcomes))
    assert outcomes["refused"] > 0.9 * sum(outcomes.values())


# ---------------------------------------------------------------------------
# 2. Bit flips and truncations of saved models
# ---------------------------------------------------------------------------
def mutate(rng, blob, headers=()):
    """Cut ``blob`` somewhere (15%), or flip 1-3 of its bits, anywhere or (a third of
    the time, when ``headers`` gives their byte spans) inside one .npy header."""
    blob = bytearray(blob)
    if rng.random() < 0.15:
        return bytes(blob[:rng.integers(0, len(blob))])
    aimed = len(headers) and rng.random() < 1 / 3
    for _ in range(rng.integers(1, 4)):
        if aimed:
            start, end = headers[rng.integers(len(headers))]
            position = rng.integers(start, end)
        else:
            position = rng.integers(len(blob))
        blob[position] ^= 1 << rng.integers(8)
    return bytes(blob)


def header_spans_in_file(blob):
    """Byte spans of every member's .npy header inside the whole (stored, uncompressed) archive."""
    spans = []
    with zipfile.ZipFile(_io.BytesIO(blob)) as z:
        for info in z.infolist():
            local = blob[info.header_offset:]
            data = info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
                + int.from_bytes(local[28:30], "little")
            start, end = header_span(blob[data:data + 16])
            spans.append((data + start, data + end))
    return spans


def test_bit_flips_and_truncations_of_saved_models_are_refused_or_change_nothing(tmp_path):
    rng = np.random.default_rng(20)
    outcomes = collections.Counter()
    path = tmp_path / "mutant.npz"
    saved = {}
    for name, make in MODELS.items():
        make().save(tmp_path / f"{name}.npz")
        blob = (tmp_path / f"{name}.npz").read_bytes()
        saved[name] = (make(), blob, header_spans_in_file(blob))
    for i in range(MUTANTS):
        model, blob, spans = saved[list(MODELS)[i % len(MODELS)]]
        path.write_bytes(mutate(rng, blob, spans))
        outcomes[load_or_refusal(path, model)[0]] += 1
    print(f"{MUTANTS} saved-model mutants: {dict(outcomes)}")
    assert sum(outcomes.values()) == MUTANTS and outcomes["refused"] > MUTANTS // 2


# ---------------------------------------------------------------------------
# 3. Bit flips and truncations of exported ONNX files
# ---------------------------------------------------------------------------
class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("a damaged ONNX file took over 60 s to load")


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """``{name: (model bytes, {file beside it: bytes})}`` of four small exported models."""
    onnx = pytest.importorskip("onnx")
    from onnx.external_data_helper import convert_model_to_external_data

    import minicnn.onnx as monnx
    folder = tmp_path_factory.mktemp("exported")
    files = {}
    for name, make, shape in (("conv-bn", conv_bn, (1, 3, 3)), ("residual", residual, (1, 4, 4)),
                              ("branches", branches, (1, 5, 5))):
        monnx.export(make(), folder / f"{name}.onnx", shape)
        files[name] = ((folder / f"{name}.onnx").read_bytes(), {})
    proto = onnx.load(folder / "conv-bn.onnx")
    convert_model_to_external_data(proto, all_tensors_to_one_file=True, location="weights.bin",
                                   size_threshold=0)
    onnx.save(proto, folder / "external.onnx")
    files["external"] = ((folder / "external.onnx").read_bytes(), {"weights.bin": (folder / "weights.bin").read_bytes()})
    return files


@pytest.fixture(scope="module")
def onnx_files_of_the_new_ops(tmp_path_factory):
    """``{name: (model bytes, {file beside it: bytes})}``: minicnn's export of :func:`mobile`, and the
    PyTorch files of tests/data that hold the new forms (tests/data/make_torch_onnx.py)."""
    pytest.importorskip("onnx")
    import minicnn.onnx as monnx
    folder = tmp_path_factory.mktemp("exported-new")
    monnx.export(mobile(), folder / "mobile.onnx", (2, 5, 5))
    files = {"mobile": ((folder / "mobile.onnx").read_bytes(), {})}
    data = pathlib.Path(__file__).parent / "data"
    for name in ("torch_mobile_legacy", "torch_mobile_dynamo", "torch_adaptive_dynamo", "torch_finetune_training"):
        beside = data / f"{name}.onnx.data"
        files[name] = ((data / f"{name}.onnx").read_bytes(),
                       {f"{name}.onnx.data": beside.read_bytes()} if beside.exists() else {})
    return files


def test_bit_flips_and_truncations_of_exported_onnx_files_are_refused_without_hang_or_huge_allocation(
        tmp_path, onnx_files):
    """Each mutant loads or is refused with a ValueError naming it; none runs 60 s (a
    hang, not a time limit: a load takes milliseconds) and none allocates 1 GB: NumPy's
    and Python's allocations by tracemalloc, everything else by the peak resident size."""
    fuzz_onnx_files(tmp_path, onnx_files, seed=20)


def test_bit_flips_and_truncations_of_files_holding_the_new_ops_are_refused_without_hang_or_huge_allocation(
        tmp_path, onnx_files_of_the_new_ops):
    """The same over the ops of the mobile and modern networks, minicnn's forms and PyTorch's."""
    fuzz_onnx_files(tmp_path, onnx_files_of_the_new_ops, seed=27)


def fuzz_onnx_files(tmp_path, onnx_files, seed, mutants=MUTANTS):
    """``mutants`` damaged copies of ``onnx_files`` (in turn), each loaded: minicnn's ValueError naming
    the file, or a model; no other exception, no hang, no allocation of 1 GB or more."""
    import minicnn.onnx as monnx
    rng = np.random.default_rng(seed)
    outcomes = collections.Counter()
    limit = 2 ** 30
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024    # Linux: KiB
    previous = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    try:
        for i in range(mutants):
            name = list(onnx_files)[i % len(onnx_files)]
            blob, beside = onnx_files[name]
            for file, data in beside.items():
                (tmp_path / file).write_bytes(data)
            path = tmp_path / "mutant.onnx"
            path.write_bytes(mutate(rng, blob))
            tracemalloc.reset_peak()
            signal.alarm(60)
            try:
                monnx.load(path)
                outcomes["loads"] += 1
            except ValueError as exc:
                assert str(path) in str(exc), repr(exc)
                outcomes["refused"] += 1
            finally:
                signal.alarm(0)
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < limit, f"mutant {i} of {name} allocated {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, previous)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{mutants} ONNX mutants of {', '.join(onnx_files)}: {dict(outcomes)}")
    assert rss_after - rss_before < limit
    assert sum(outcomes.values()) == mutants and outcomes["refused"] > mutants // 2
