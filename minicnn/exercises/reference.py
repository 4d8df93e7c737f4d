"""minicnn's own answers to the exercises: each exercise's function computed by minicnn's
layers, loss and optimiser (im2col by :mod:`minicnn.functional`), with the exercise's
signature. The checker compares a learner's answer with these; there are no separate
solution files to keep in step with the library.

The layers are made per call (with ``init="zeros"``, so that no call draws from
minicnn's random generator) and given the exercise's arrays as their parameters.
"""
import numpy as np

from .. import functional as F
from .. import layers as L
from .. import losses, optim
from ..parameter import Parameter


def _conv(x, W, b, stride, padding):
    """A Conv2D holding ``W`` and ``b`` (in x's dtype)."""
    o, c, kh, kw = W.shape
    conv = L.Conv2D(c, o, (kh, kw), stride=stride, padding=padding, dtype=x.dtype, init="zeros")
    conv.params["W"].data[...] = W
    conv.params["b"].data[...] = b
    return conv


def conv2d_forward(x, W, b, stride, padding):
    return _conv(x, W, b, stride, padding).forward(x)


def im2col(x, kh, kw, stride, padding):
    # minicnn's own matrix is the transpose, (C*kh*kw, N*OH*OW): one column per window
    pads = ((padding, padding), (padding, padding))
    return F.im2col(F.pad2d(x, pads), (kh, kw), (stride, stride), (1, 1)).T.copy()


conv2d_forward_im2col = conv2d_forward


def conv2d_backward(dout, x, W, stride, padding):
    conv = _conv(x, W, np.zeros(len(W), x.dtype), stride, padding)
    conv.forward(x, training=True)
    dx = conv.backward(dout)
    return dx, conv.params["W"].grad, conv.params["b"].grad


def max_pool2d_forward(x, k, stride):
    return L.MaxPool2D(k, stride).forward(x)


def max_pool2d_backward(dout, x, k, stride):
    return _backward(L.MaxPool2D(k, stride), x, dout)


def avg_pool2d_forward(x, k, stride):
    return L.AvgPool2D(k, stride).forward(x)


def avg_pool2d_backward(dout, x_shape, k, stride):
    # average pooling needs only x's shape: the gradient does not depend on x's values
    return _backward(L.AvgPool2D(k, stride), np.zeros(x_shape, dout.dtype), dout)


def relu_forward(x):
    return L.ReLU().forward(x)


def relu_backward(dout, x):
    return _backward(L.ReLU(), x, dout)


def _dense(x, W, b):
    dense = L.Dense(*W.shape, dtype=x.dtype, init="zeros")
    dense.params["W"].data[...] = W
    dense.params["b"].data[...] = b
    return dense


def dense_forward(x, W, b):
    return _dense(x, W, b).forward(x)


def dense_backward(dout, x, W):
    dense = _dense(x, W, np.zeros(W.shape[1], x.dtype))
    dx = _backward(dense, x, dout)
    return dx, dense.params["W"].grad, dense.params["b"].grad


def softmax_cross_entropy(logits, labels):
    loss = losses.CrossEntropy()
    value = loss.forward(logits, labels)
    return value, loss.backward()


def _batchnorm(x, gamma, beta, eps):
    bn = L.BatchNorm(len(gamma), eps=eps, dtype=x.dtype)
    bn.params["gamma"].data[...] = gamma
    bn.params["beta"].data[...] = beta
    return bn


def batchnorm_forward(x, gamma, beta, eps):
    return _batchnorm(x, gamma, beta, eps).forward(x, training=True)


def batchnorm_backward(dout, x, gamma, eps):
    bn = _batchnorm(x, gamma, np.zeros_like(gamma), eps)
    dx = _backward(bn, x, dout)
    return dx, bn.params["gamma"].grad, bn.params["beta"].grad


def sgd_momentum_step(w, dw, v, lr, momentum):
    p = Parameter(w.copy())
    p.grad[...] = dw
    opt = optim.SGD([p], lr=lr, momentum=momentum)
    state = opt.state_dict()
    state["velocity.0"] = v                      # start from the learner's velocity
    opt.load_state_dict(state)
    opt.step()
    return p.data, opt.state_dict()["velocity.0"].astype(w.dtype)


def _backward(layer, x, dout):
    """dx of ``layer`` at ``x`` for the upstream gradient ``dout`` (a training forward first)."""
    layer.forward(x, training=True)
    return layer.backward(dout)
