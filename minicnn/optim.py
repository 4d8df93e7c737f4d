"""Optimisers (SGD with momentum/Nesterov/weight decay, Adam) and learning-rate schedules.

The update rules are PyTorch's, so that hyper-parameters carry over, and so are
parameter groups (a list of ``{"params": ..., "lr": ...}`` dicts: a learning rate
for a pretrained body and another for a new head). State
(momentum buffers, Adam moments) lives in each parameter's dtype (float16
parameters keep their Adam moments in float32: eps = 1e-8 is 0 in float16).
"""
import contextlib
from collections.abc import Mapping

import numpy as np

from ._checks import check_bool, check_float, check_int, fits_dtype
from .devices import array_module, device_of, to_device, to_numpy
from .parameter import Parameter


class _GroupHyper:
    """A hyper-parameter read as an attribute, ``opt.lr``: the first parameter group's
    (the only one for a flat list of parameters; ``fit`` logs ``opt.lr``). Setting it is
    setting that group's; with several groups it is a ValueError: set
    ``opt.param_groups[i][name]`` of the group meant."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, opt, owner=None):
        return self if opt is None else opt.param_groups[0][self.name]

    def __set__(self, opt, value):
        if len(opt.param_groups) > 1:
            raise ValueError(f"{type(opt).__name__} has {len(opt.param_groups)} parameter groups, each with its "
                             f"own {self.name}: set optimizer.param_groups[i][{self.name!r}] of the group meant")
        opt.param_groups[0][self.name] = value


class Optimizer:
    """Base class: holds the parameters in groups, ``zero_grad()`` resets every gradient,
    ``step()`` applies the subclass's ``update(i, p, group)`` to every trainable parameter.

    ``params`` is either an iterable of Parameters (``model.parameters()``: one group
    with the constructor's hyper-parameters) or, PyTorch's form, a list of parameter
    groups, dicts with a ``"params"`` entry and any hyper-parameter to override for
    that group (the others are the constructor's)::

        SGD([{"params": body.parameters(), "lr": 1e-3},     # a small lr for the body
             {"params": head.parameters()}],                 # the default lr=1e-2
            lr=1e-2, momentum=0.9)

    ``param_groups``: those groups, each a dict holding its ``"params"`` list and every
    hyper-parameter (a schedule changes each group's ``"lr"``); ``defaults``: the
    constructor's hyper-parameters; ``params``: every parameter, group after group
    (``params[i]`` is the ``i`` of ``update`` and of the state's keys). ``opt.lr`` and the
    other hyper-parameter attributes read the first group's.

    A parameter with ``requires_grad=False`` (frozen) is skipped by ``step()``: no
    update, no weight decay, no change to its state. After unfreezing, make a new
    optimiser (Keras asks for ``compile()`` again), so that Adam's bias correction
    starts afresh for the newly trained parameters.

    A subclass names its hyper-parameters in ``_hyper``, checks them in
    ``_check_hyper`` and names its per-parameter state lists in ``_buffers``;
    ``state_dict``/``load_state_dict`` save and restore them all (with the step count).
    """
    _hyper = ("lr",)
    _buffers = ()
    lr = _GroupHyper()

    def __init__(self, params, **defaults):
        self.defaults = self._check_hyper(defaults, lambda name: name)
        self.param_groups = []
        for g, (group_params, overrides) in enumerate(check_param_groups(params, self._hyper)):
            name = lambda key, g=g: f"params[{g}][{key!r}]" if key in overrides else key
            self.param_groups.append({"params": group_params,
                                      **self._check_hyper({**self.defaults, **overrides}, name)})
        self.params = [p for group in self.param_groups for p in group["params"]]
        self.step_count = 0

    @classmethod
    def _check_hyper(cls, hyper, name):
        """``hyper`` (every name in ``_hyper``) checked, as a new dict; ``name(key)`` is the
        argument's name in messages (``"lr"``, or ``"params[1]['lr']"`` in a group)."""
        return {"lr": check_float(hyper["lr"], name("lr"), minimum=0.0)}

    def update(self, i, p, group):
        """Update ``p`` (the ``i``-th parameter, in ``group``) in place with the group's
        hyper-parameters; ``step_count`` is already advanced."""
        raise NotImplementedError

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        """Update every trainable parameter from its ``grad`` (one optimisation step).

        Raises ``RuntimeError`` naming the parameter when the update overflows its
        dtype (gradients beyond ~1e19 in float32): training has diverged, and
        inf weights would only hide it.
        """
        self._match_state_to_params()
        self.step_count += 1
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    with diverging_update_is_an_error(self, i, p):
                        self.update(i, p, group)
                i += 1

    def state_dtype(self, param_dtype):
        """The dtype of the state kept for a parameter of ``param_dtype``: its own."""
        return param_dtype

    def _match_state_to_params(self):
        """Convert the state to the parameters' dtype when that changed (``model.astype``),
        so that no update ever runs in mixed precision, and move it to their device when they
        moved (``model.to``); refuse a parameter that changed shape."""
        for buf in self._buffers:
            arrays = getattr(self, buf)
            for i, p in enumerate(self.params):
                check_state_shape(arrays[i], p, i, buf)
                want = self.state_dtype(p.data.dtype)
                if arrays[i].dtype != want:
                    arrays[i] = arrays[i].astype(want)
                if array_module(arrays[i]) is not array_module(p.data):
                    arrays[i] = to_device(arrays[i], device_of(p.data))

    # -- state ---------------------------------------------------------------
    def state_dict(self):
        """Flat dict of the hyper-parameters, the step count and every state buffer
        (``"<buffer>.<param index>"``): easy to store in an .npz file.

        One group (a flat list of parameters): the hyper-parameters by name (``"lr"``, ...).
        Several: ``"param_groups"``, a list with a dict per group, PyTorch's form: its
        hyper-parameters and ``"params"``, the indices of its parameters in ``params``."""
        self._match_state_to_params()
        if len(self.param_groups) == 1:
            state = {name: self.param_groups[0][name] for name in self._hyper}
        else:
            state = {"param_groups": self._group_state()}
        state["step_count"] = self.step_count
        for buf in self._buffers:
            for i, arr in enumerate(getattr(self, buf)):
                state[f"{buf}.{i}"] = to_numpy(arr).copy()      # on the host, whatever the device
        return state

    def _group_state(self):
        """``[{"params": [indices], hyper-parameter: value, ...}, ...]``, one dict per group."""
        groups, first = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            groups.append({"params": list(range(first, first + n)), **{k: group[k] for k in self._hyper}})
            first += n
        return groups

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` gave; everything is checked before anything changes."""
        hypers, step_count, buffers = check_optimizer_state(self, state)
        for buf in self._buffers:
            for i, arr in enumerate(getattr(self, buf)):
                arr[...] = to_device(np.asarray(buffers[f"{buf}.{i}"], arr.dtype), device_of(arr))
        for group, hyper in zip(self.param_groups, hypers):
            group.update(hyper)
        self.step_count = step_count

    def __repr__(self):
        """What ``step()`` uses now: each group's hyper-parameters (a schedule's current lr),
        one group as ``SGD(3 parameters, lr=...)``, several as ``SGD([{...}, {...}])``."""
        def group(g):
            n = len(g["params"])
            return ", ".join([f"{n} parameter{'s' if n != 1 else ''}", *(f"{k}={g[k]!r}" for k in self._hyper)])
        if len(self.param_groups) == 1:
            return f"{type(self).__name__}({group(self.param_groups[0])})"
        return f"{type(self).__name__}([{', '.join('{' + group(g) + '}' for g in self.param_groups)}])"


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

        g = grad + weight_decay * p
        v = momentum * v + g                 (v starts at 0, so v = g at step 1)
        g = g + momentum * v  if nesterov else  v
        p = p - lr * g

    with each parameter group's own hyper-parameters (see :class:`Optimizer`).
    """

    def update(self, i, p, group):
        g, v = p.grad, self.velocity[i]
        momentum = group["momentum"]
        if group["weight_decay"]:
            g = g + p.data.dtype.type(group["weight_decay"]) * p.data
        if momentum:
            v *= v.dtype.type(momentum)
            v += g
            g = g + v.dtype.type(momentum) * v if group["nesterov"] else v
        p.data -= p.data.dtype.type(group["lr"]) * g

    _hyper = ("lr", "momentum", "nesterov", "weight_decay")
    _buffers = ("velocity",)
    momentum, nesterov, weight_decay = _GroupHyper(), _GroupHyper(), _GroupHyper()

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        self.velocity = [array_module(p.data).zeros_like(p.data) for p in self.params]

    @classmethod
    def _check_hyper(cls, hyper, name):
        checked = dict(lr=check_float(hyper["lr"], name("lr"), minimum=0.0),
                       momentum=check_float(hyper["momentum"], name("momentum"), minimum=0.0),
                       nesterov=check_bool(hyper["nesterov"], name("nesterov")),
                       weight_decay=check_float(hyper["weight_decay"], name("weight_decay"), minimum=0.0))
        if checked["nesterov"] and checked["momentum"] == 0:
            raise ValueError(f"{name('nesterov')}=True needs {name('momentum')} > 0")
        return checked


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule (weight decay added to the gradient):

        g = grad + weight_decay * p
        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    with each parameter group's own hyper-parameters (see :class:`Optimizer`).
    """

    def update(self, i, p, group):
        b1, b2 = group["betas"]
        t = self.step_count
        m, v = self.m[i], self.v[i]
        dt = m.dtype.type
        g = p.grad.astype(m.dtype, copy=False)
        if group["weight_decay"]:
            g = g + dt(group["weight_decay"]) * p.data
        xp = array_module(g)
        g2 = xp.square(g)               # before m changes: an overflow here leaves the state as it was
        m *= dt(b1)
        m += dt(1 - b1) * g
        v *= dt(b2)
        v += dt(1 - b2) * g2
        step = dt(group["lr"] / (1 - b1 ** t)) * m / (xp.sqrt(v) / dt(np.sqrt(1 - b2 ** t)) + dt(group["eps"]))
        p.data -= step.astype(p.data.dtype, copy=False)

    _hyper = ("lr", "betas", "eps", "weight_decay")
    _buffers = ("m", "v")
    betas, eps, weight_decay = _GroupHyper(), _GroupHyper(), _GroupHyper()

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.m = [array_module(p.data).zeros(p.data.shape, self.state_dtype(p.data.dtype)) for p in self.params]
        self.v = [array_module(p.data).zeros(p.data.shape, self.state_dtype(p.data.dtype)) for p in self.params]

    @classmethod
    def _check_hyper(cls, hyper, name):
        return dict(lr=check_float(hyper["lr"], name("lr"), minimum=0.0),
                    betas=check_betas(hyper["betas"], name("betas")),
                    eps=check_float(hyper["eps"], name("eps"), minimum=0.0),
                    weight_decay=check_float(hyper["weight_decay"], name("weight_decay"), minimum=0.0))

    def state_dtype(self, param_dtype):
        """float32 for float16 parameters, else their own: float16 cannot hold the moments
        (eps = 1e-8 rounds to 0, so a zero gradient would give 0/0, and g^2 overflows above
        256); mixed-precision training keeps them in float32 too."""
        return np.promote_types(param_dtype, np.float32)


@contextlib.contextmanager
def diverging_update_is_an_error(optimizer, i, p):
    """An update that overflows the parameter's dtype raises RuntimeError naming it."""
    try:
        with np.errstate(over="raise", invalid="raise"):
            yield
    except FloatingPointError as exc:
        raise RuntimeError(
            f"{type(optimizer).__name__}.step(): the update of params[{i}] (shape {p.data.shape}, "
            f"{p.data.dtype}) overflows its dtype ({exc}); the gradient is too large "
            f"(max |grad| = {float(abs(p.grad).max()):.3g}): lower the learning rate "
            "or clip the gradients") from None


# ---------------------------------------------------------------------------
# Learning-rate schedules: each ``step()`` sets every group's ``"lr"``
# ---------------------------------------------------------------------------
class LRScheduler:
    """Base class. ``step()`` advances the count and sets the lr of every parameter group
    from that group's own starting lr, as PyTorch's schedules do: with a body at 1e-3 and
    a head at 1e-2, ``StepLR(opt, 10, gamma=0.1)`` takes them to 1e-4 and 1e-3.

    ``base_lrs``: each group's lr when the schedule was made (``base_lr``: the first's).
    A subclass writes ``_lr(base_lr, group)``, the lr of ``group`` (its index) at
    ``self.count``. ``per_batch`` says whether ``fit`` steps it after every batch (True)
    or after every epoch (False).
    """
    per_batch = False

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a minicnn Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.count = 0

    @property
    def base_lr(self):
        return self.base_lrs[0]

    def _lr(self, base_lr, group):
        raise NotImplementedError

    def get_lr(self):
        """Each group's lr at the current count, a list (PyTorch's ``get_last_lr()``)."""
        return [self._lr(base, g) for g, base in enumerate(self.base_lrs)]

    get_last_lr = get_lr

    def step(self):
        """Advance by one and set every group's lr; returns the first group's (``optimizer.lr``)."""
        self.count += 1
        self._apply()
        return self.optimizer.lr

    def _apply(self):
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def state_dict(self):
        """``{"base_lr": float, "count": int}``; ``base_lr`` is a list, one per group, when the
        optimiser has several groups."""
        base = self.base_lrs[0] if len(self.base_lrs) == 1 else list(self.base_lrs)
        return {"base_lr": base, "count": self.count}

    def load_state_dict(self, state):
        n = len(self.base_lrs)
        want = "{'base_lr': float, 'count': int}" if n == 1 else f"{{'base_lr': [{n} floats], 'count': int}}"
        if not isinstance(state, Mapping) or set(state) != {"base_lr", "count"}:
            raise ValueError(f"schedule state must be {want}, got {state!r:.80}")
        base = state["base_lr"]
        if isinstance(base, np.ndarray):
            base = base.tolist()
        if n == 1:
            base_lrs = [check_float(base, "base_lr", minimum=0.0)]
        elif not isinstance(base, (list, tuple)) or len(base) != n:
            raise ValueError(f"schedule state must be {want} (one base_lr per parameter group), got {state!r:.80}")
        else:
            base_lrs = [check_float(b, f"base_lr[{g}]", minimum=0.0) for g, b in enumerate(base)]
        self.count = check_int(state["count"], "count", 0)
        self.base_lrs = base_lrs
        self._apply()


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size), stepped once per epoch."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_float(gamma, "gamma", minimum=0.0, maximum=1.0)   # a decay: lr never grows

    def _lr(self, base_lr, group):
        return base_lr * self.gamma ** (self.count // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch, stepped once per epoch."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = check_float(gamma, "gamma", minimum=0.0, maximum=1.0)   # a decay: lr never grows

    def _lr(self, base_lr, group):
        return base_lr * self.gamma ** self.count


class PolynomialDecay(LRScheduler):
    """lr = end_lr + (base_lr - end_lr) * (1 - iterations / total_steps) ** power, stepped
    after every batch; ``end_lr`` after ``total_steps`` (Keras's ``PolynomialDecay``).

    With the default ``power=1`` the rate falls linearly to ``end_lr`` over the
    run: large steps early, small ones at the end, where they settle the weights.
    ``end_lr``: a float, the same for every parameter group, or a list with one per
    group (as PyTorch's ``min_lr`` arguments take).
    """
    per_batch = True

    def __init__(self, optimizer, total_steps, end_lr=0.0, power=1.0):
        super().__init__(optimizer)
        self.total_steps = check_int(total_steps, "total_steps", 1)
        n = len(self.base_lrs)
        if isinstance(end_lr, (list, tuple)):
            if len(end_lr) != n:
                raise ValueError(f"end_lr must be a float or a list of {n} floats (one per parameter group), "
                                 f"got {len(end_lr)} values")
            self.end_lr = [check_float(e, f"end_lr[{g}]", minimum=0.0) for g, e in enumerate(end_lr)]
        else:
            self.end_lr = check_float(end_lr, "end_lr", minimum=0.0)
        self.power = check_float(power, "power", minimum=0.0, min_open=True)

    def _lr(self, base_lr, group):
        end_lr = self.end_lr[group] if isinstance(self.end_lr, list) else self.end_lr
        done = min(self.count, self.total_steps) / self.total_steps
        return end_lr + (base_lr - end_lr) * (1 - done) ** self.power


class InverseTimeDecay(LRScheduler):
    """lr = base_lr / (1 + decay * iterations), stepped after every batch.

    This is the ``decay`` argument of old Keras SGD (``SGD(lr, decay=1e-6)``).
    """
    per_batch = True

    def __init__(self, optimizer, decay):
        super().__init__(optimizer)
        self.decay = check_float(decay, "decay", minimum=0.0)

    def _lr(self, base_lr, group):
        return base_lr / (1 + self.decay * self.count)


# ---------------------------------------------------------------------------
# The optimisers' argument checks: parameters, parameter groups, betas, a saved state
# ---------------------------------------------------------------------------
def check_params(params):
    """A non-empty list of distinct minicnn Parameters (one Parameter is taken as a list)."""
    if isinstance(params, Parameter):
        params = [params]
    else:
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"params must be an iterable of minicnn Parameters (pass model.parameters()), "
                            f"got {type(params).__name__}") from None
    if not params:
        raise ValueError("params is empty: the optimiser needs at least one Parameter "
                         "(pass model.parameters())")
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"params[{i}] must be a minicnn Parameter, got {type(p).__name__} "
                            "(pass model.parameters())")
        if any(p is q for q in params[:i]):
            raise ValueError(f"params[{i}] appears twice in params: it would be updated twice per step")
    return params


def check_param_groups(params, hyper_names):
    """An optimiser's ``params``: an iterable of Parameters (one group) or a non-empty list
    of parameter groups, PyTorch's form, dicts with ``"params"`` and any of ``hyper_names``.
    Returns ``[(list of Parameters, {hyper-parameter: value}), ...]``, one pair per group;
    a parameter may be in one group only. The values are the optimiser's to check."""
    if isinstance(params, Mapping):
        raise TypeError("params must be a list of parameter groups such as [{'params': ...}], "
                        "or an iterable of Parameters; got a dict: put it in a list")
    if not isinstance(params, Parameter):
        try:
            params = list(params)               # a generator is read once
        except TypeError:
            pass                                # check_params says what params must be
    if isinstance(params, Parameter) or not isinstance(params, list) or \
            not any(isinstance(g, Mapping) for g in params):
        return [(check_params(params), {})]
    groups, seen = [], {}
    for g, group in enumerate(params):
        if not isinstance(group, Mapping):
            raise TypeError(f"params[{g}] must be a parameter group, a dict such as {{'params': ...}}, like "
                            f"the other entries of params, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"params[{g}] has no 'params' entry: a parameter group is a dict such as "
                             "{'params': layer.parameters(), 'lr': 1e-3}")
        unknown = sorted((str(k) for k in group if k != "params" and k not in hyper_names))
        if unknown:
            raise ValueError(f"params[{g}] has unknown keys {unknown}: a parameter group takes 'params' "
                             f"and {list(hyper_names)}")
        try:
            group_params = check_params(group["params"])
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"params[{g}]['params']: {exc}") from None
        for i, p in enumerate(group_params):
            if id(p) in seen:
                raise ValueError(f"params[{g}]['params'][{i}] is also in params[{seen[id(p)]}]: a parameter "
                                 "may be in one parameter group only")
            seen[id(p)] = g
        groups.append((group_params, {k: v for k, v in group.items() if k != "params"}))
    return groups


def check_betas(betas, name="betas"):
    """Adam's (beta1, beta2), each in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {betas!r}")
    return tuple(check_float(b, f"{name}[{i}]", minimum=0.0, maximum=1.0, max_open=True)
                 for i, b in enumerate(betas))


def check_state_shape(state, p, i, buffer):
    if state.shape != p.data.shape:
        raise ValueError(f"params[{i}] has shape {p.data.shape} now, but its optimiser state "
                         f"{buffer} has {state.shape}: make a new optimiser")


def check_optimizer_state(optimizer, state):
    """What ``optimizer.load_state_dict(state)`` may take: ``(hypers, step_count, buffers)``,
    ``hypers`` a dict per parameter group, all checked (the hyper-parameters by the
    optimiser's own checks). A state of several groups must group the parameters as
    the optimiser does."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict such as optimizer.state_dict(), got {type(state).__name__}")
    expected = optimizer.state_dict()             # (which also matches the state to the params' dtype)
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise ValueError(f"optimiser state does not match: missing keys {sorted(missing, key=str)}, "
                         f"unexpected keys {sorted(unexpected, key=str)}")
    if "param_groups" in expected:
        groups = state["param_groups"]
        want = expected["param_groups"]
        if not isinstance(groups, (list, tuple)) or len(groups) != len(want):
            raise ValueError(f"optimiser state param_groups must be a list of {len(want)} groups, "
                             f"got {groups!r:.80}")
        hypers = []
        for g, (group, ours) in enumerate(zip(groups, want)):
            if not isinstance(group, Mapping) or set(group) != set(ours):
                raise ValueError(f"optimiser state param_groups[{g}] must be a dict with keys "
                                 f"{sorted(ours)}, got {group!r:.80}")
            indices = group["params"]
            if isinstance(indices, np.ndarray):
                indices = indices.tolist()
            if not isinstance(indices, (list, tuple)) or list(indices) != ours["params"]:
                raise ValueError(f"optimiser state param_groups[{g}]['params'] is {indices!r:.80}, but this "
                                 f"optimiser's group {g} holds parameters {ours['params']}: it groups them otherwise")
            hypers.append(_checked_hyper(optimizer, group, f"param_groups[{g}]"))
    else:
        hypers = [_checked_hyper(optimizer, state, "")]
    step_count = state["step_count"]
    if isinstance(step_count, np.ndarray) and step_count.ndim == 0:
        step_count = step_count.item()
    step_count = check_int(step_count, "step_count", 0)
    buffers = {}
    for buf in optimizer._buffers:
        for i, arr in enumerate(getattr(optimizer, buf)):
            key = f"{buf}.{i}"
            value = state[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                raise TypeError(f"optimiser state {key} must be a numeric array, got {type(value).__name__}")
            if value.shape != arr.shape:
                raise ValueError(f"optimiser state {key} has shape {value.shape}, expected {arr.shape}")
            if not np.all(fits_dtype(value, arr.dtype) & np.isfinite(value)) or (buf == "v" and np.any(value < 0)):
                raise ValueError(f"optimiser state {key} holds NaN, inf, values beyond the range of "
                                 f"{arr.dtype} or (for v) negative values")
            buffers[key] = value
    return hypers, step_count, buffers


def _checked_hyper(optimizer, source, prefix):
    """The hyper-parameters of ``source`` (a state dict or one of its groups), checked by
    the optimiser's constructor checks; a value from an .npz file may be a 0-d or 1-d array."""
    hyper = {}
    for name in optimizer._hyper:
        value = source[name]
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value = tuple(value.tolist()) if value.ndim else value.item()
        hyper[name] = value
    return optimizer._check_hyper(hyper, lambda name: f"{prefix}[{name!r}]" if prefix else name)
