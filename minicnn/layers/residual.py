"""Residual: a skip connection, y = block(x) + shortcut(x), as in ResNet."""
from .base import Layer


class Residual(Layer):
    """y = block(x) + shortcut(x).

    ``block``: a list of layers or a Sequential, the residual branch. ``shortcut``:
    None for the identity (y = block(x) + x, the input carried around the block), or
    a list of layers or a Sequential (e.g. a 1x1 ``Conv2D`` with stride 2 when the
    block halves the size and changes the channels). The two branches must give
    the same shape; a ValueError says both when they do not.

    Backward: the gradient dy reaches both branches, and their input gradients add:

        dx = block.backward(dy) + shortcut.backward(dy)      (+ dy itself for the identity)

    The identity is why deep ResNets train: whatever the block does to dy, dy itself
    flows straight back to x. Parameters and buffers are named ``block.<i>.<name>`` and
    ``shortcut.<i>.<name>``, so that a model's keys read e.g. ``"3.block.0.W"``.
    """

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block = _as_sequential(block, "block")
        self.shortcut = None if shortcut is None else _as_sequential(shortcut, "shortcut")
        self.params = {f"{name}.{key}": p for name, branch in self.branches() if branch is not None
                       for key, p in branch.named_parameters().items()}

    def branches(self):
        """``[("block", Sequential), ("shortcut", Sequential or None for the identity)]``."""
        return [("block", self.block), ("shortcut", self.shortcut)]

    def _output_shape(self, input_shape):
        out = self.block.output_shape(input_shape)
        skip = input_shape if self.shortcut is None else self.shortcut.output_shape(input_shape)
        if out != skip:
            raise ValueError(f"Residual: the block gives per-sample shape {out} but the shortcut gives {skip} "
                             f"(input shape {input_shape}); give a shortcut that matches, e.g. a 1x1 Conv2D")
        return out

    def forward(self, x, training=False):
        skip = x if self.shortcut is None else self.shortcut.forward(x, training=training)
        return self.block.forward(x, training=training) + skip

    def backward(self, grad_out, input_grad=True):
        dx = self.block.backward(grad_out, input_grad=input_grad)
        skip = grad_out if self.shortcut is None else self.shortcut.backward(grad_out, input_grad=input_grad)
        return dx + skip if input_grad else None

    def buffers(self):
        return {f"{name}.{key}": buf for name, branch in self.branches() if branch is not None
                for key, buf in branch.named_buffers().items()}

    def sublayers(self):
        return [layer for _, branch in self.branches() if branch is not None for layer in branch.layers]

    def astype(self, dtype):
        for layer in self.sublayers():
            layer.astype(dtype)
        return self

    def config(self):
        return {"block": self.block.architecture(),
                "shortcut": None if self.shortcut is None else self.shortcut.architecture()}

    @classmethod
    def from_config(cls, config):
        from . import build_layer
        shortcut = config.get("shortcut")
        return cls([build_layer(item) for item in config["block"]],
                   None if shortcut is None else [build_layer(item) for item in shortcut])

    def __repr__(self):
        inner = "".join(f"\n  {name}: " + ("identity" if branch is None else repr(branch).replace("\n", "\n  "))
                        for name, branch in self.branches())
        return f"Residual({inner}\n)"


def _as_sequential(layers, name):
    from ..model import Sequential
    if isinstance(layers, Sequential):
        return layers
    if not isinstance(layers, (list, tuple)) or not layers:
        raise TypeError(f"{name} must be a non-empty list of layers or a Sequential, got {layers!r:.80}")
    try:
        return Sequential(list(layers))
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
