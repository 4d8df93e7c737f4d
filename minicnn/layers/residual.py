"""Residual: a skip connection, y = block(x) + shortcut(x), as in ResNet."""
from .container import BranchedLayer, as_chain


class Residual(BranchedLayer):
    """y = block(x) + shortcut(x).

    ``block``: a list of layers or a Sequential, the residual branch. ``shortcut``:
    None for the identity (y = block(x) + x, the input carried around the block), or
    a list of layers or a Sequential (e.g. a 1x1 ``Conv2D`` with stride 2 when the
    block halves the size and changes the channels). The two branches must give
    the same shape; a ValueError says both when they do not.

    Backward: the gradient dy reaches both branches, and their input gradients add:

        dx = block.backward(dy) + shortcut.backward(dy)      (+ dy itself for the identity)

    The identity is why deep ResNets train: whatever the block does to dy, dy itself
    flows straight back to x. Each branch is a :class:`~minicnn.layers.container.Chain`
    (a Sequential stays one); parameters and buffers are named ``block.<i>.<name>`` and
    ``shortcut.<i>.<name>``, so that a model's keys read e.g. ``"3.block.0.W"``
    (see :class:`~minicnn.layers.container.BranchedLayer`).
    """

    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block = as_chain(block, "block")
        self.shortcut = None if shortcut is None else as_chain(shortcut, "shortcut")
        self._collect_params()

    def branches(self):
        """``[("block", Chain), ("shortcut", Chain or None for the identity)]``."""
        return [("block", self.block), ("shortcut", self.shortcut)]

    def _output_shape(self, input_shape):
        out = self.block.output_shape(input_shape)
        skip = input_shape if self.shortcut is None else self.shortcut.output_shape(input_shape)
        if out != skip:
            raise ValueError(f"Residual: the block gives per-sample shape {out} but the shortcut gives {skip} "
                             f"(input shape {input_shape}); give a shortcut that matches, e.g. a 1x1 Conv2D")
        return out

    def _forward(self, x, training):
        skip = x if self.shortcut is None else self.shortcut.forward(x, training=training)
        return self.block.forward(x, training=training) + skip

    def _backward(self, grad_out, input_grad):
        dx = self.block.backward(grad_out, input_grad=input_grad)
        skip = grad_out if self.shortcut is None else self.shortcut.backward(grad_out, input_grad=input_grad)
        return dx + skip if input_grad else None
