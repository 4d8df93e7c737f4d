"""What the exporter and the importer share: the lazy import of onnx, the opset, float attributes."""
import numpy as np

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
        from onnx import numpy_helper          # noqa: F401  (a submodule: loaded for the callers)
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
