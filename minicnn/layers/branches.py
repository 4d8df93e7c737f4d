"""Layers of parallel branches on one input: Concat (Inception) and SqueezeExcitation (SENet).

Both are :class:`~minicnn.layers.container.BranchedLayer`\\ s, as Residual is: each branch a
Chain, parameters named ``<branch>.<i>.<name>``, summary rows for the branches' layers.
"""
import itertools

import numpy as np

from .._checks import check_bool, check_dtype, check_float, check_int
from ..devices import array_module
from .activation import Hardsigmoid, Hardswish, ReLU, ReLU6, Sigmoid, SiLU, Tanh
from .base import Layer
from .batchnorm import BatchNorm
from .container import BranchedLayer, as_chain, layers_from_architecture
from .linear import Dense
from .pooling import GlobalAvgPool2D


class Concat(BranchedLayer):
    """y = the branches' outputs on the same x, concatenated along the channels (axis 1).

    ``branches``: a non-empty list; each branch a list of layers, a Sequential, or a single
    layer (an empty list or ``Sequential([])`` is the identity: x itself, as PyTorch's
    ``nn.Sequential()``). Every branch reads the same x, and the outputs must agree on every axis but the
    channels: a ValueError names each branch's per-sample output shape when they do not.
    With branches giving C_0, C_1, ... channels, y has C_0 + C_1 + ... channels:

        y = concatenate([branch0(x), branch1(x), ...], axis=1)        (torch.cat(..., 1))

    This is GoogLeNet's Inception block: a 1x1, a 3x3 and a 5x5 convolution and a pooling
    of the same map, side by side. A branch may hold a Concat itself (Inception-v4's
    InceptionC forks a branch into a 1x3 and a 3x1 convolution).

    Backward: dy splits back into the branches' channel ranges, each branch backpropagates
    its part, and their input gradients add, since all read the same x:

        dx = branch0.backward(dy[:, :C_0]) + branch1.backward(dy[:, C_0:C_0 + C_1]) + ...

    Parameters and buffers are named ``branch<k>.<i>.<name>`` (``"3.branch1.0.W"`` in a model).
    """
    min_ndim = 2

    def __init__(self, branches):
        super().__init__()
        if isinstance(branches, Layer) or not isinstance(branches, (list, tuple)) or not branches:
            raise TypeError(f"branches must be a non-empty list of branches (each a list of layers, "
                            f"a Sequential or a layer), got {branches!r:.80}")
        self._branches = [as_chain([b] if isinstance(b, Layer) else b, f"branches[{k}]")
                          for k, b in enumerate(branches)]
        self._collect_params()

    def branches(self):
        """``[("branch0", Chain), ("branch1", Chain), ...]``."""
        return [(f"branch{k}", branch) for k, branch in enumerate(self._branches)]

    def _output_shape(self, input_shape):
        shapes = [branch.output_shape(input_shape) for branch in self._branches]
        first = shapes[0]
        if any(len(s) != len(first) or s[1:] != first[1:] for s in shapes):
            listed = ", ".join(f"branch{k} {s}" for k, s in enumerate(shapes))
            raise ValueError(f"Concat: the branches' outputs must agree on every axis but the channels "
                             f"(input shape {input_shape}): {listed}")
        return (sum(s[0] for s in shapes), *first[1:])

    def _forward(self, x, training):
        xp = array_module(x)
        outs = [branch.forward(x, training=training) for branch in self._branches]
        if training:
            self.cache = [out.shape[1] for out in outs]    # where dy splits
        return xp.concatenate(outs, axis=1)

    def _backward(self, grad_out, input_grad):
        xp = array_module(grad_out)
        bounds = list(itertools.accumulate(self.cache))[:-1]
        parts = xp.split(grad_out, bounds, axis=1)
        dx = None
        for branch, part in zip(self._branches, parts):
            d = branch.backward(part, input_grad=input_grad)
            if input_grad:
                dx = d if dx is None else dx + d        # not in place: d may be a view of part
        return dx

    def config(self):
        return {"branches": [branch.architecture() for branch in self._branches]}

    @classmethod
    def from_config(cls, config):
        branches = config.get("branches") if isinstance(config, dict) else None
        if not isinstance(branches, list):
            raise ValueError(f"a Concat config must be {{\"branches\": [branch, ...]}}, got {config!r:.80}")
        return cls([layers_from_architecture(spec) for spec in branches])


#: The activations a SqueezeExcitation's gate may use, by name: element-wise layers without arguments.
GATE_ACTIVATIONS = {cls.__name__: cls for cls in (ReLU, ReLU6, SiLU, Hardswish, Hardsigmoid, Sigmoid, Tanh)}


def _gate_activation(value, name):
    """An activation of :data:`GATE_ACTIVATIONS`, given as its class or its name; returns the name."""
    if isinstance(value, type) and value.__name__ in GATE_ACTIVATIONS and GATE_ACTIVATIONS[value.__name__] is value:
        return value.__name__
    if isinstance(value, str) and value in GATE_ACTIVATIONS:
        return value
    raise ValueError(f"{name} must be one of {', '.join(GATE_ACTIVATIONS)} (a name or the class), got {value!r:.60}")


class SqueezeExcitation(BranchedLayer):
    """Squeeze-and-excitation (Hu et al., 2018): each channel scaled by a gate computed from x.

    x: (N, C, H, W) -> y: (N, C, H, W), C = ``input_channels``, S = ``squeeze_channels``:

        s = mean over (H, W) of x                         (N, C)    squeeze
        g = scale_act(act(s @ W1 + b1) @ W2 + b2)         (N, C)    excitation, W1 (C, S), W2 (S, C)
        y[n, c, h, w] = x[n, c, h, w] * g[n, c]

    With the defaults (``activation="ReLU"``, ``scale_activation="Sigmoid"``) it is SENet's,
    torchvision's ``SqueezeExcitation(input_channels, squeeze_channels)`` (its 1x1
    convolutions are these Dense layers on the pooled vector; their weights are W1.T, W2.T) and
    timm's SEModule (S = make_divisible(C / 16, 8)). torchvision's other gates:
    MobileNetV3's ``scale_activation="Hardsigmoid"``, EfficientNet's ``activation="SiLU"``.
    The activations are named as minicnn's layers (or given as the classes): ReLU, ReLU6, SiLU,
    Hardswish, Hardsigmoid, Sigmoid, Tanh. ``batch_norm=True`` puts a BatchNorm(S, eps,
    momentum) after the first Dense, which then has no bias (the squeeze as conv-BN-act, as some
    SE blocks have it).

    The gate is a branch, ``GlobalAvgPool2D -> Dense(C, S) -> [BatchNorm(S)] -> act -> Dense(S, C)
    -> scale_act``, so its parameters are named ``gate.1.W``, ``gate.1.b``, ``gate.3.W``,
    ``gate.3.b`` (with the BatchNorm: ``gate.1.W``, ``gate.2.gamma``, ``gate.2.beta``, ``gate.4.W``,
    ``gate.4.b``).

    Backward: x reaches y twice, directly and through the gate, so

        dx = dy * g  +  gate.backward(sum over (H, W) of dy * x)
    """
    input_ndim = 4
    channel_check = (1, "input_channels", "channels")

    def __init__(self, input_channels, squeeze_channels, activation="ReLU", scale_activation="Sigmoid",
                 batch_norm=False, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        self.input_channels = check_int(input_channels, "input_channels", 1)
        self.squeeze_channels = check_int(squeeze_channels, "squeeze_channels", 1)
        self.activation = _gate_activation(activation, "activation")
        self.scale_activation = _gate_activation(scale_activation, "scale_activation")
        self.batch_norm = check_bool(batch_norm, "batch_norm")
        eps = check_float(eps, "eps", minimum=0.0, min_open=True)          # checked with or without the BatchNorm
        momentum = check_float(momentum, "momentum", minimum=0.0, maximum=1.0)
        self.dtype = check_dtype(dtype)
        c, s = self.input_channels, self.squeeze_channels
        norm = [BatchNorm(s, momentum=momentum, eps=eps, dtype=self.dtype)] if self.batch_norm else []
        # no bias before a BatchNorm: its mean would take it away (PyTorch's conv-BN has none either)
        self.gate = as_chain([GlobalAvgPool2D(), Dense(c, s, bias=not self.batch_norm, dtype=self.dtype), *norm,
                              GATE_ACTIVATIONS[self.activation](), Dense(s, c, dtype=self.dtype),
                              GATE_ACTIVATIONS[self.scale_activation]()], "gate")
        self._collect_params()

    def branches(self):
        return [("gate", self.gate)]

    def _forward(self, x, training):
        g = self.gate.forward(x, training=training)
        if training:
            self.cache = (x, g)
        return x * g[:, :, None, None]

    def _backward(self, grad_out, input_grad):
        x, g = self.cache
        xp = array_module(x)
        dg = xp.einsum("nchw,nchw->nc", grad_out, x)          # dLoss/dg = sum over (h, w) of dy * x
        through_gate = self.gate.backward(dg, input_grad=input_grad)
        if not input_grad:
            return None
        return grad_out * g[:, :, None, None] + through_gate

    def astype(self, dtype):
        super().astype(dtype)
        self.dtype = np.dtype(dtype)
        return self

    def config(self):
        """The constructor's arguments; those of the gate's BatchNorm only when it has one (a
        config without the newer keys, as older minicnn wrote it, builds SENet's gate)."""
        config = dict(input_channels=self.input_channels, squeeze_channels=self.squeeze_channels,
                      activation=self.activation, scale_activation=self.scale_activation,
                      batch_norm=self.batch_norm, dtype=self.dtype.name)
        if self.batch_norm:
            norm = self.gate.layers[2]
            config.update(eps=norm.eps, momentum=norm.momentum)
        return config

    @classmethod
    def from_config(cls, config):
        return Layer.from_config.__func__(cls, config)

    def __repr__(self):
        return Layer.__repr__(self)


__all__ = ["Concat", "SqueezeExcitation"]
