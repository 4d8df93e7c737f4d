"""The exercises, in learning order: each one's signature, outputs and the track's steps.

Everything else about an exercise is looked up by its name: minicnn's answer in
:mod:`.reference`, its inputs in :mod:`.cases`, its common mistakes in :mod:`.mistakes`,
its skeleton in ``skeletons/<file>``.
"""
from collections import namedtuple

#: name: the function's name; args, returns: its arguments and outputs (names as in the
#: docstrings); steps: the track's steps that explain it; file: its skeleton's name.
Exercise = namedtuple("Exercise", "name args returns steps file")

_ORDER = [
    ("conv2d_forward", "x W b stride padding", "out", (2, 3, 7)),
    ("im2col", "x kh kw stride padding", "cols", (7, 16)),
    ("conv2d_forward_im2col", "x W b stride padding", "out", (16,)),
    ("max_pool2d_forward", "x k stride", "out", (9,)),
    ("avg_pool2d_forward", "x k stride", "out", (9,)),
    ("relu_forward", "x", "out", (11, 12)),
    ("dense_forward", "x W b", "out", (12,)),
    ("softmax_cross_entropy", "logits labels", "loss dlogits", (12,)),
    ("dense_backward", "dout x W", "dx dW db", (13,)),
    ("relu_backward", "dout x", "dx", (13,)),
    ("conv2d_backward", "dout x W stride padding", "dx dW db", (13, 14)),
    ("max_pool2d_backward", "dout x k stride", "dx", (9, 13)),
    ("avg_pool2d_backward", "dout x_shape k stride", "dx", (9, 13)),
    ("sgd_momentum_step", "w dw v lr momentum", "w v", (14, 15)),
    ("batchnorm_forward", "x gamma beta eps", "out", (18,)),
    ("batchnorm_backward", "dout x gamma eps", "dx dgamma dbeta", (18,)),
]

EXERCISES = [Exercise(name, tuple(args.split()), tuple(returns.split()), steps, f"ex{i:02d}_{name}.py")
             for i, (name, args, returns, steps) in enumerate(_ORDER, 1)]
BY_NAME = {e.name: e for e in EXERCISES}


def signature(exercise):
    """``"conv2d_forward(x, W, b, stride, padding) -> out"``."""
    return f"{exercise.name}({', '.join(exercise.args)}) -> {', '.join(exercise.returns)}"
