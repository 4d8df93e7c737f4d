"""Sequential: a model, layers run in order, with training and save/load.

The running part (forward, backward, parameters, shapes) is
:class:`minicnn.layers.container.Chain`, on the layers' side; this module adds
what needs the training loop and files. The layers never import this module.
"""
import json
from collections.abc import Mapping

import numpy as np

from . import training
from ._checks import check_int, fits_dtype
from .devices import device_of, to_device, to_numpy
from .io import open_npz, save_npz
from .layers import build_layer
from .layers.base import skip_init
from .layers.container import Chain

_FORMAT = "minicnn.Sequential/1"


class Sequential(Chain):
    """Layers applied one after the other: a :class:`~minicnn.layers.container.Chain`
    (forward, backward, parameters, ``model[i]``) that also trains, saves and loads.

    ``forward`` runs them first to last, ``backward`` last to first (the chain
    rule). Parameters and buffers are named ``"<layer index>.<name>"``, e.g.
    ``"0.W"`` or ``"3.running_mean"``.
    """

    def fit(self, x, y, loss, optimizer, epochs=1, batch_size=32, validation_data=None, shuffle=True,
            callbacks=(), progress=True, checkpoint=None, resume=False):
        """Train on ``(x, y)``; see :func:`minicnn.training.fit`. Returns a History."""
        return training.fit(self, x, y, loss, optimizer, epochs=epochs, batch_size=batch_size,
                            validation_data=validation_data, shuffle=shuffle, callbacks=callbacks,
                            progress=progress, checkpoint=checkpoint, resume=resume)

    def evaluate(self, x, y, loss, batch_size=64):
        """``{"loss": ..., "accuracy": ...}`` over ``(x, y)``, computed in batches."""
        return training.evaluate(self, x, y, loss, batch_size=batch_size)

    def predict(self, x, batch_size=64):
        """Outputs for every sample of ``x`` in order, computed in batches (eval mode)."""
        return training.predict(self, x, batch_size=batch_size)

    # -- parameters and state ----------------------------------------------------
    def state_dict(self):
        """``{name: array}`` of every parameter and buffer: NumPy copies, whatever the model's
        device (what files, checkpoints and ONNX want; ``load_state_dict`` puts them back on it)."""
        return {name: to_numpy(a).copy() for name, a in self._state_arrays().items()}

    def _check_state_keys(self, entries, source):
        """``entries``: ``{key: (shape, dtype)}`` of arrays to load; keys, shapes and dtype
        kinds must fit the model. The message names ``source`` and the first bad key."""
        expected = self._state_arrays()
        missing = sorted(set(expected) - set(entries))
        unexpected = sorted(set(entries) - set(expected))
        if missing or unexpected:
            raise ValueError(f"{source} does not match the model: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        for key, ref in expected.items():
            shape, dtype = entries[key]
            if tuple(shape) != ref.shape:
                raise ValueError(f"{source}: {key} has shape {tuple(shape)}, the model expects {ref.shape}")
            if dtype.kind not in "biuf":
                raise ValueError(f"{source}: {key} has non-numeric dtype {dtype}")

    def load_state_dict(self, state, source="state_dict"):
        """Copy arrays into the parameters and buffers; keys and shapes must match exactly.

        Everything is checked before anything changes."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict of arrays such as model.state_dict(), "
                            f"got {type(state).__name__}")
        state = {key: to_numpy(value) for key, value in state.items()}
        self._check_state_keys({k: (v.shape, v.dtype) for k, v in state.items()}, source)
        for key, ref in self._state_arrays().items():
            value = state[key]
            if not np.all(fits_dtype(value, ref.dtype)):
                raise ValueError(f"{source}: {key} holds values beyond the range of {ref.dtype}")
        for key, ref in self._state_arrays().items():
            ref[...] = to_device(state[key].astype(ref.dtype, copy=False), device_of(ref))

    # -- files -----------------------------------------------------------------
    def save(self, path):
        """Write architecture (JSON) + weights + buffers to one .npz file, atomically."""
        arrays = {"__format__": np.array(_FORMAT),
                  "__architecture__": np.array(json.dumps(self.architecture()))}
        arrays.update(self.state_dict())
        save_npz(path, arrays)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save` (no pickle involved).

        The layers are first built from the file's architecture without initial values
        (no memory, no random numbers drawn), their shapes are checked against the
        headers of the file's arrays, and only then is anything allocated: whatever
        the architecture claims, a load needs memory only for what the file holds.
        """
        what = "a minicnn model file (an .npz archive written by Sequential.save)"
        with open_npz(path, what) as npz:
            if "__format__" not in npz.headers or "__architecture__" not in npz.headers:
                raise ValueError(f"{path} is not {what}: it has no {_FORMAT} header")
            if str(npz.read("__format__")) != _FORMAT:
                raise ValueError(f"{path} is not {what}: its member '__format__' is not {_FORMAT!r}")
            try:
                spec = json.loads(str(npz.read("__architecture__")))
                if not isinstance(spec, list):
                    raise ValueError(f"expected a list of layers, got {type(spec).__name__}")
                with skip_init():
                    model = cls([build_layer(item) for item in spec])
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{path} is not {what}: bad architecture in its member "
                                 f"'__architecture__': {exc}") from exc
            weights = {k: v for k, v in npz.headers.items() if not k.startswith("__")}
            model._check_state_keys(weights, source=str(path))
            for layer in model.layers:
                layer._allocate()
            model.load_state_dict({key: npz.read(key) for key in weights}, source=str(path))
        return model

    # -- description ---------------------------------------------------------------
    def summary(self, input_shape):
        """Table of layer, per-sample output shape and parameter count, plus the total.

        ``input_shape`` is one sample's shape, e.g. ``(1, 28, 28)``; shapes are
        computed without running any data.
        """
        if not isinstance(input_shape, (tuple, list)) or not input_shape:
            raise TypeError(f"input_shape must be a tuple of ints such as (1, 28, 28), got {input_shape!r}")
        shape = tuple(check_int(s, "input_shape", 1) for s in input_shape)
        rows = [("Layer", "Output shape", "Params"), ("Input", str(shape), "")]
        self._summary_rows(shape, rows, indent="")
        widths = [max(len(r[k]) for r in rows) for k in range(3)]
        line = "-" * (sum(widths) + 4)
        fmt = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}"
        body = [fmt(rows[0]), line, *map(fmt, rows[1:]), line,
                f"Total params: {self.num_params():,}"]
        return "\n".join(body)
