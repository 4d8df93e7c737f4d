"""Optimisers (SGD with momentum/Nesterov/weight decay, Adam) and learning-rate schedules.

The update rules are PyTorch's, so that hyper-parameters carry over. State
(momentum buffers, Adam moments) lives in each parameter's dtype (float16
parameters keep their Adam moments in float32: eps = 1e-8 is 0 in float16).
"""
import contextlib
from collections.abc import Mapping

import numpy as np

from ._checks import (check_betas, check_bool, check_float, check_int, check_optimizer_state, check_params,
                      check_state_shape)


class Optimizer:
    """Base class: holds the parameter list and ``lr``; ``zero_grad()`` resets every gradient,
    ``step()`` applies the subclass's ``update(i, p)`` to every parameter.

    A subclass names its hyper-parameters in ``_hyper`` and its per-parameter
    state lists in ``_buffers``; ``state_dict``/``load_state_dict`` save and
    restore both (with the step count).
    """
    _hyper = ("lr",)
    _buffers = ()

    def __init__(self, params, lr):
        self.params = check_params(params)
        self.lr = check_float(lr, "lr", minimum=0.0)
        self.step_count = 0

    def update(self, i, p):
        """Update ``p`` (the ``i``-th parameter) in place; ``step_count`` is already advanced."""
        raise NotImplementedError

    def zero_grad(self):
        for p in self.params:
            p.zero_grad()

    def step(self):
        """Update every parameter from its ``grad`` (one optimisation step).

        Raises ``RuntimeError`` naming the parameter when the update overflows its
        dtype (gradients beyond ~1e19 in float32): training has diverged, and
        inf weights would only hide it.
        """
        self._match_state_to_params()
        self.step_count += 1
        for i, p in enumerate(self.params):
            with diverging_update_is_an_error(self, i, p):
                self.update(i, p)

    def state_dtype(self, param_dtype):
        """The dtype of the state kept for a parameter of ``param_dtype``: its own."""
        return param_dtype

    def _match_state_to_params(self):
        """Convert the state to the parameters' dtype when that changed (``model.astype``),
        so that no update ever runs in mixed precision; refuse a parameter that changed shape."""
        for buf in self._buffers:
            arrays = getattr(self, buf)
            for i, p in enumerate(self.params):
                check_state_shape(arrays[i], p, i, buf)
                want = self.state_dtype(p.data.dtype)
                if arrays[i].dtype != want:
                    arrays[i] = arrays[i].astype(want)

    # -- state ---------------------------------------------------------------
    def state_dict(self):
        """Flat dict of hyper-parameters, the step count and every state buffer
        (``"<buffer>.<param index>"``): easy to store in an .npz file."""
        self._match_state_to_params()
        state = {name: getattr(self, name) for name in self._hyper}
        state["step_count"] = self.step_count
        for buf in self._buffers:
            for i, arr in enumerate(getattr(self, buf)):
                state[f"{buf}.{i}"] = arr.copy()
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` gave; everything is checked before anything changes."""
        hyper, step_count, buffers = check_optimizer_state(self, state)
        for buf in self._buffers:
            for i, arr in enumerate(getattr(self, buf)):
                arr[...] = buffers[f"{buf}.{i}"]
        for name, value in hyper.items():
            setattr(self, name, value)
        self.step_count = step_count

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, {args})"


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule:

        g = grad + weight_decay * p
        v = momentum * v + g                 (v starts at 0, so v = g at step 1)
        g = g + momentum * v  if nesterov else  v
        p = p - lr * g
    """

    def update(self, i, p):
        g, v = p.grad, self.velocity[i]
        if self.weight_decay:
            g = g + p.data.dtype.type(self.weight_decay) * p.data
        if self.momentum:
            v *= v.dtype.type(self.momentum)
            v += g
            g = g + v.dtype.type(self.momentum) * v if self.nesterov else v
        p.data -= p.data.dtype.type(self.lr) * g

    _hyper = ("lr", "momentum", "nesterov", "weight_decay")
    _buffers = ("velocity",)

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = check_float(momentum, "momentum", minimum=0.0)
        self.nesterov = check_bool(nesterov, "nesterov")
        self.weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.velocity = [np.zeros_like(p.data) for p in self.params]


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule (weight decay added to the gradient):

        g = grad + weight_decay * p
        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    def update(self, i, p):
        b1, b2 = self.betas
        t = self.step_count
        m, v = self.m[i], self.v[i]
        dt = m.dtype.type
        g = p.grad.astype(m.dtype, copy=False)
        if self.weight_decay:
            g = g + dt(self.weight_decay) * p.data
        g2 = np.square(g)               # before m changes: an overflow here leaves the state as it was
        m *= dt(b1)
        m += dt(1 - b1) * g
        v *= dt(b2)
        v += dt(1 - b2) * g2
        step = dt(self.lr / (1 - b1 ** t)) * m / (np.sqrt(v) / dt(np.sqrt(1 - b2 ** t)) + dt(self.eps))
        p.data -= step.astype(p.data.dtype, copy=False)

    _hyper = ("lr", "betas", "eps", "weight_decay")
    _buffers = ("m", "v")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = check_betas(betas)
        self.eps = check_float(eps, "eps", minimum=0.0)
        self.weight_decay = check_float(weight_decay, "weight_decay", minimum=0.0)
        self.m = [np.zeros(p.data.shape, self.state_dtype(p.data.dtype)) for p in self.params]
        self.v = [np.zeros(p.data.shape, self.state_dtype(p.data.dtype)) for p in self.params]

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
            f"(max |grad| = {float(np.abs(p.grad).max()):.3g}): lower the learning rate "
            "or clip the gradients") from None


# ---------------------------------------------------------------------------
# Learning-rate schedules: each ``step()`` sets ``optimizer.lr``
# ---------------------------------------------------------------------------
class LRScheduler:
    """Base class. ``step()`` advances the count and sets the optimiser's lr.

    ``per_batch`` says whether ``fit`` steps it after every batch (True) or
    after every epoch (False).
    """
    per_batch = False

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a minicnn Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.count = 0

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        self.count += 1
        self.optimizer.lr = self.get_lr()
        return self.optimizer.lr

    def state_dict(self):
        return {"base_lr": self.base_lr, "count": self.count}

    def load_state_dict(self, state):
        if not isinstance(state, Mapping) or set(state) != {"base_lr", "count"}:
            raise ValueError(f"schedule state must be {{'base_lr': float, 'count': int}}, got {state!r:.80}")
        self.base_lr = check_float(state["base_lr"], "base_lr", minimum=0.0)
        self.count = check_int(state["count"], "count", 0)
        self.optimizer.lr = self.get_lr()


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size), stepped once per epoch."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer)
        self.step_size = check_int(step_size, "step_size", 1)
        self.gamma = check_float(gamma, "gamma", minimum=0.0, maximum=1.0)   # a decay: lr never grows

    def get_lr(self):
        return self.base_lr * self.gamma ** (self.count // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch, stepped once per epoch."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = check_float(gamma, "gamma", minimum=0.0, maximum=1.0)   # a decay: lr never grows

    def get_lr(self):
        return self.base_lr * self.gamma ** self.count


class PolynomialDecay(LRScheduler):
    """lr = end_lr + (base_lr - end_lr) * (1 - iterations / total_steps) ** power, stepped
    after every batch; ``end_lr`` after ``total_steps`` (Keras's ``PolynomialDecay``).

    With the default ``power=1`` the rate falls linearly to ``end_lr`` over the
    run: large steps early, small ones at the end, where they settle the weights.
    """
    per_batch = True

    def __init__(self, optimizer, total_steps, end_lr=0.0, power=1.0):
        super().__init__(optimizer)
        self.total_steps = check_int(total_steps, "total_steps", 1)
        self.end_lr = check_float(end_lr, "end_lr", minimum=0.0)
        self.power = check_float(power, "power", minimum=0.0, min_open=True)

    def get_lr(self):
        done = min(self.count, self.total_steps) / self.total_steps
        return self.end_lr + (self.base_lr - self.end_lr) * (1 - done) ** self.power


class InverseTimeDecay(LRScheduler):
    """lr = base_lr / (1 + decay * iterations), stepped after every batch.

    This is the ``decay`` argument of old Keras SGD (``SGD(lr, decay=1e-6)``).
    """
    per_batch = True

    def __init__(self, optimizer, decay):
        super().__init__(optimizer)
        self.decay = check_float(decay, "decay", minimum=0.0)

    def get_lr(self):
        return self.base_lr / (1 + self.decay * self.count)
