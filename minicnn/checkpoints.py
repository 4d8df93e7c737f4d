"""Checkpoints of ``fit(checkpoint=path)``: everything a resume needs, in one file.

After every epoch :class:`Checkpointer` writes, atomically, one ``.npz`` archive holding the
arrays (the model's weights and buffers, the optimiser's state, the callbacks' arrays, the
per-batch history) and, under ``__meta__``, a JSON document for the rest: the format
(``minicnn.checkpoint/1``), the epoch, the architecture, the optimiser's class and scalars,
the callbacks' states, the history, and the states of the data loader's and minicnn's
random generators. ``fit(..., resume=True)`` calls :func:`restore_checkpoint`, and the run
continues to exactly the weights an uninterrupted run would have. No pickle: a damaged or
foreign file is a ValueError that says what is wrong, and restoring is all or nothing.
"""
import json
from collections.abc import Mapping

import numpy as np

from . import _rng
from .callbacks import Callback
from .io import load_npz, save_npz

_CHECKPOINT_FORMAT = "minicnn.checkpoint/1"
_CHECKPOINT_WHAT = "a minicnn checkpoint (an .npz archive written by fit(checkpoint=...))"


class Checkpointer(Callback):
    """fit's ``checkpoint=path``: everything a resume needs, saved after every epoch."""

    def __init__(self, path, optimizer, loader, callbacks, history):
        self.path, self.optimizer, self.loader, self.callbacks, self.history = \
            path, optimizer, loader, callbacks, history

    def on_epoch_end(self, epoch, logs):
        save_checkpoint(self.path, epoch, self.model, self.optimizer, self.loader, self.callbacks, self.history)


def save_checkpoint(path, epoch, model, optimizer, loader, callbacks, history):
    """Write the state of the run after ``epoch`` (counted from 0) to ``path``, atomically:
    an interrupted write leaves the checkpoint before it as it was."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_scalars = {}
    for k, v in optimizer.state_dict().items():
        if isinstance(v, np.ndarray):
            arrays[f"optimizer/{k}"] = v
        else:
            opt_scalars[k] = v
    meta = {
        "format": _CHECKPOINT_FORMAT, "epoch": epoch, "architecture": model.architecture(),
        "optimizer": {"class": type(optimizer).__name__, "scalars": opt_scalars},
        "callbacks": {str(i): _arrays_apart(c.state_dict(), f"callbacks/{i}", arrays)
                      for i, c in enumerate(callbacks) if hasattr(c, "state_dict")},
        "history": history.history,
        # per batch: arrays in the archive (a long run's batches would bloat the JSON)
        "history_batches": _arrays_apart({k: np.asarray(v, dtype=np.float64) for k, v in history.batches.items()},
                                         "history/batches", arrays),
        "loader_rng": loader.rng.bit_generator.state,
        "global_rng": _rng.get_rng().bit_generator.state,
    }
    arrays["__meta__"] = np.array(json.dumps(meta))
    save_npz(path, arrays)


def _arrays_apart(value, key, arrays):
    """``value`` (a callback's state) made JSON-able: every ndarray in it, however deep in
    dicts and lists, moves into ``arrays`` under ``key/...`` and leaves ``{"__array__": key}``."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, Mapping):
        return {k: _arrays_apart(v, f"{key}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_arrays_apart(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    return value


def _arrays_back(value, arrays):
    """Inverse of :func:`_arrays_apart` (a KeyError for a reference to a missing array)."""
    if isinstance(value, Mapping):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _arrays_back(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrays_back(v, arrays) for v in value]
    return value


_CHECKPOINT_KEYS = ("epoch", "architecture", "optimizer", "callbacks", "history", "loader_rng", "global_rng")


def _first_difference(saved, model, arrays):
    """Where a checkpoint's layers and weights first differ from ``model``'s, for error messages."""
    ours = model.architecture()
    saved = saved if isinstance(saved, list) else [saved]
    i = next((i for i, (a, b) in enumerate(zip(saved, ours)) if a != b), min(len(saved), len(ours)))

    def layer(arch):
        if i >= len(arch):
            return "absent"
        item = arch[i]
        if isinstance(item, dict) and isinstance(item.get("config"), dict):
            return f"{item.get('class')}({', '.join(f'{k}={v!r}' for k, v in item['config'].items())})"
        return repr(item)

    text = f"layer {i} is {layer(saved)} in the checkpoint, {layer(ours)} in the model"
    stored = {k[6:]: v.shape for k, v in arrays.items() if k.startswith("model/")}
    expected = {k: v.shape for k, v in model.state_dict().items()}
    shape = lambda s: "absent" if s is None else f"shape {s}"
    order = {k: n for n, k in enumerate([*stored, *(k for k in expected if k not in stored)])}
    by_layer = lambda k: (int(k.split(".")[0]) if k.split(".")[0].isdigit() else -1, order[k])
    for key in sorted(order, key=by_layer):
        if stored.get(key) != expected.get(key):
            return (f"{text}; first mismatching key {key!r}: {shape(stored.get(key))} in the checkpoint, "
                    f"{shape(expected.get(key))} in the model")
    return f"{text} (every weight has the same shape)"


def restore_checkpoint(path, model, optimizer, loader, callbacks, history):
    """Load a checkpoint into the objects of this run; returns the epoch to start at."""
    arrays = load_npz(path, what=_CHECKPOINT_WHAT)
    try:
        if "__meta__" not in arrays:
            raise ValueError(f"it has no {_CHECKPOINT_FORMAT} metadata")
        meta = json.loads(str(arrays.pop("__meta__")))
        if not isinstance(meta, dict) or meta.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"its metadata is not {_CHECKPOINT_FORMAT}")
        lacking = [k for k in _CHECKPOINT_KEYS if k not in meta]
        if lacking:
            raise ValueError(f"its metadata lacks {lacking}")
        _check_meta_types(meta)
        batches = _history_batches(meta.get("history_batches", {}), arrays)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a minicnn checkpoint: {exc}") from exc
    if meta["architecture"] != model.architecture():
        raise ValueError(f"{path} holds a checkpoint of another architecture than this model: "
                         f"{_first_difference(meta['architecture'], model, arrays)}")
    if meta["optimizer"]["class"] != type(optimizer).__name__:
        raise ValueError(f"{path} holds {meta['optimizer']['class']} state, but the optimiser is "
                         f"{type(optimizer).__name__}")
    stateful = [c for c in callbacks if hasattr(c, "state_dict") and hasattr(c, "load_state_dict")]
    before = (model.state_dict(), optimizer.state_dict(), [c.state_dict() for c in stateful],
              loader.rng.bit_generator.state, _rng.get_rng().bit_generator.state)
    try:
        model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")},
                              source=str(path))
        opt_state = dict(meta["optimizer"]["scalars"])
        opt_state.update({k[10:]: v for k, v in arrays.items() if k.startswith("optimizer/")})
        optimizer.load_state_dict(opt_state)
        for i, c in enumerate(callbacks):
            if hasattr(c, "load_state_dict") and str(i) in meta["callbacks"]:
                c.load_state_dict(_arrays_back(meta["callbacks"][str(i)], arrays))
        loader.rng.bit_generator.state = meta["loader_rng"]
        _rng.get_rng().bit_generator.state = meta["global_rng"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # all or nothing: put back what was loaded before the failure
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        for c, state in zip(stateful, before[2]):
            c.load_state_dict(state)
        loader.rng.bit_generator.state, _rng.get_rng().bit_generator.state = before[3:]
        if isinstance(exc, ValueError) and str(path) in str(exc):
            raise
        raise ValueError(f"{path}: cannot resume from this checkpoint: {exc}") from exc
    history.history = {k: list(v) for k, v in meta["history"].items()}
    history.batches = batches
    return meta["epoch"] + 1


def _history_batches(entry, arrays):
    """The checkpoint's per-batch record as ``History.batches`` (checkpoints written
    before there was one have none: ``{}``)."""
    if not isinstance(entry, dict) or not all(isinstance(v, dict) for v in entry.values()):
        raise ValueError("its history_batches entry is not a dict of array references")
    record = _arrays_back(entry, arrays)
    lengths = {len(v) if isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64 else -1
               for v in record.values()}
    if -1 in lengths or len(lengths) > 1:
        raise ValueError("its per-batch history is not float64 vectors of one length")
    return {k: v.tolist() for k, v in record.items()}


def _check_meta_types(meta):
    """Types of the metadata entries ``restore_checkpoint`` uses, before anything is changed."""
    epoch = meta["epoch"]
    if type(epoch) is not int or epoch < 0:
        raise ValueError(f"its epoch is {epoch!r}, not an int >= 0")
    optimizer = meta["optimizer"]
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("class"), str)
            and isinstance(optimizer.get("scalars"), dict)):
        raise ValueError("its optimizer entry is not {\"class\": str, \"scalars\": {...}}")
    for key in ("callbacks", "history", "loader_rng", "global_rng"):
        if not isinstance(meta[key], dict):
            raise ValueError(f"its {key} entry is a {type(meta[key]).__name__}, not a dict")
    if not all(isinstance(v, list) for v in meta["history"].values()):
        raise ValueError("its history entry is not a dict of lists")


__all__ = ["Checkpointer", "save_checkpoint", "restore_checkpoint"]
