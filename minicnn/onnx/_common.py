"""What the exporter and the importer share: the lazy import of onnx, the opset, float attributes."""
import numpy as np

from .. import functional as F

#: The opset minicnn writes: 17 is read by every onnxruntime since 1.13 and by Netron,
#: and every op minicnn needs has its current meaning there.
OPSET = 17
#: The IR version that goes with opset 17 (a newer one would lock out older runtimes).
IR_VERSION = 8
#: The oldest opset the importer reads. Before 7, BatchNormalization and Dropout had an
#: ``is_test`` attribute whose default meant training mode.
MIN_OPSET = 7
#: The newest opset the importer reads. From 18 to 25 the ops minicnn imports changed only
#: by attributes the importers read (ReduceMean's axes input and noop_with_empty_axes in 18,
#: AveragePool's dilations in 19) or refuse when set (Cast's saturate in 19, round_mode in
#: 24), and by new tensor types (19, 21 to 25), which minicnn refuses; ONNX's conformance
#: cases of Flatten and Reshape are at opset 25 (onnx 1.23) and pass. PyTorch writes up to
#: 23. A newer opset may give an op another meaning: refused until its changes are read.
MAX_OPSET = 25

#: The metadata key of ``model.architecture()``: it keeps what the graph's numbers do not
#: say, such as the padding spellings 'same' and 'valid' and the initialisers' names.
ARCHITECTURE_KEY = "minicnn.architecture"


def require_onnx():
    """Import and return the ``onnx`` package, or say how to install it.

    onnx is an optional extra: ``import minicnn`` and ``import minicnn.onnx`` work
    without it, and only calling ``export``/``load`` needs it.
    """
    try:
        import onnx
        from onnx import numpy_helper  # noqa: F401  (a submodule: loaded for the callers)
    except ImportError as exc:
        raise ImportError("minicnn.onnx needs the onnx package: pip install minicnn[onnx] "
                          f"(or pip install onnx); importing it failed: {exc}") from exc
    return onnx


def short_float(value):
    """The shortest decimal that rounds to the same float32 as ``value``.

    ONNX stores float attributes (epsilon, alpha, momentum) as float32, so 1e-5
    comes back as 9.99999974738e-06. minicnn computes in float32 with
    ``float32(eps)`` either way, so both give the same results; reading back
    the short decimal keeps ``config()`` as the user wrote it (1e-05).
    """
    return float(np.format_float_scientific(np.float32(value), unique=True))


def pool_window(size, kernel, stride, pads, count_include_pad=False):
    """ONNX's ``pads`` and ``ceil_mode`` (opset 17) for minicnn's pool in ceil mode over an
    input of ``size`` (per spatial axis), padded by ``pads`` ((before, after) per axis).

    minicnn's (PyTorch's) ceil mode rounds the number of windows up, but drops a last window
    that would start in the end padding; ONNX before opset 19 has no such rule, and one
    ``ceil_mode`` for every axis. So:

    - no axis gains a window: ``pads``, ceil_mode 0 (the floor-mode windows are the same);
    - every axis that gains one keeps it in ONNX's rule too: ``pads``, ceil_mode 1;
    - else (one axis gains a window, another drops its last): ceil_mode 0 and the extra end pads
      of :func:`minicnn.functional.ceil_pads`, which make the floor-mode windows the ceil-mode
      ones; a pad never wins a max, nor counts in a mean that leaves the padding out;
    - a mean that counts the padding would count those pads: ceil_mode 1, and on each axis that
      drops a window, the end pad cut to where the last window ends (the windows, and what
      each counts, are the same); a ValueError when no such cut gives minicnn's windows.

    Shared by the exporter (which writes it) and the importer (which reads a pool back as
    the minicnn layer that would be written so).
    """
    padded = [n + before + after for n, (before, after) in zip(size, pads)]
    floor = tuple((p - k) // s + 1 if p >= k else 0 for p, k, s in zip(padded, kernel, stride))
    windows = F.window_output_shape(size, kernel, stride, pads, ceil_mode=True)
    in_onnx = tuple(-(-(p - k) // s) + 1 for p, k, s in zip(padded, kernel, stride))
    if windows == floor or windows == in_onnx:
        return tuple(pads), int(windows != floor)
    if not count_include_pad:
        return F.ceil_pads(size, kernel, stride, pads), 0
    cut = []
    for n, k, s, (before, after), w, o in zip(size, kernel, stride, pads, windows, in_onnx):
        end = (w - 1) * s - before + k - n if w != o else after      # the last window's end, past the input
        if not 0 <= end <= after or -(-(n + before + end - k) // s) + 1 != w:
            raise ValueError(f"ceil mode gives {windows} windows, and ONNX's ceil mode {in_onnx} (one ceil_mode "
                             "for both axes); with count_include_pad=True no padding gives minicnn's windows")
        cut.append((before, end))
    return tuple(cut), 1
