"""Stateless maths behind the layers: window geometry, sliding windows, im2col/col2im,
convolution, pooling and the activation functions.

Everything here works on NCHW arrays and keeps the input's dtype. The functions
trust their arguments (the layers in :mod:`minicnn.layers` check them), so they
are the place to read how the computation itself goes, except the few that users
call directly, which check theirs: conv_output_size, same_padding, sigmoid,
softmax and log_softmax. Each of those has an unchecked twin (``_conv_output_size``,
``_same_padding``, ``_sigmoid``, ``_softmax``, ``_log_softmax``) that the library's
own calls use: the checks run once, at the public entry point.

The one idea that serves convolution, pooling and the image toolkit alike is
:func:`sliding_windows`: a strided *view* of an array in which
``windows[..., i, j, :, :]`` is the whole image as seen through tap ``(i, j)``
of the kernel. Convolution multiplies those views by one weight each (im2col
copies them into a matrix for one big product), pooling takes their maximum or
mean, and the backward passes add gradients back through the same views, one
kernel offset at a time (a loop of ``kh * kw`` vectorised steps).

The convolution and pooling functions here are the plain *references*, and the
layers call them. Faster ways to the same numbers live in :mod:`minicnn.fast`, one
named function per trick; the table ``FAST_TWINS`` of :mod:`minicnn.layers.base`
pairs each with its reference, and ``fastest(reference, x)`` there, through which a
layer calls, is the one place that chooses. ``with minicnn.reference_paths():`` runs
everything on the references.

Every function runs on NumPy or CuPy arrays alike: those that make arrays or call
a NumPy function begin with ``xp = array_module(x)`` (see :mod:`minicnn.devices`).
"""
import numpy as np

from ._checks import check_array, check_axis, check_int
from .devices import array_module, readable_now, strided_view

# ---------------------------------------------------------------------------
# Geometry: where a window can go
# ---------------------------------------------------------------------------
_NOT_GIVEN = object()


class _Unset(int):
    """The default 0 of ``total_padding``, told apart from a 0 the caller passes (it is an int
    0 in every other way, and prints as one)."""


_NO_PADDING = _Unset(0)


def conv_output_size(size, kernel, stride=1, total_padding=_NO_PADDING, dilation=1, *, padding=_NOT_GIVEN):
    """Output length along one axis: ``(size + total_padding - dilation*(kernel-1) - 1) // stride + 1``.

    ``total_padding`` is the padding added on that axis, both sides together (a
    layer's ``padding=1`` adds 2). ``padding`` is its old name, still accepted
    alone: both given is a TypeError, whatever their values.

    >>> conv_output_size(28, 3, total_padding=2)       # Conv2D(..., 3, padding=1) on 28
    28
    """
    if padding is not _NOT_GIVEN:
        if total_padding is not _NO_PADDING:
            raise TypeError("conv_output_size() got total_padding and its old name padding: give one")
        total_padding = padding
    size, kernel = check_int(size, "size", 0), check_int(kernel, "kernel", 1)
    stride, total_padding = check_int(stride, "stride", 1), check_int(total_padding, "total_padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    return _conv_output_size(size, kernel, stride, total_padding, dilation)


def _conv_output_size(size, kernel, stride, total_padding, dilation):
    """:func:`conv_output_size` for the library's own, already checked, calls."""
    return (size + total_padding - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel, dilation=1, stride=1, size=None):
    """Padding ``(before, after)`` of one axis for "same" output: ceil(size / stride) values.

        total = max((ceil(size / stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)

    which is TensorFlow's rule; at stride 1 it is ``dilation * (kernel - 1)`` whatever
    the size (so ``size`` may be left out), which is PyTorch's. An odd total puts
    the extra row/column at the bottom/right, as both do.

    >>> same_padding(3), same_padding(4), same_padding(3, stride=2, size=28)   # 28 -> 14
    ((1, 1), (1, 2), (0, 1))
    """
    kernel, dilation = check_int(kernel, "kernel", 1), check_int(dilation, "dilation", 1)
    stride = check_int(stride, "stride", 1)
    if stride != 1:
        size = check_int(size, "size", 0)
    return _same_padding(kernel, dilation, stride, size)


def _same_padding(kernel, dilation, stride, size):
    """:func:`same_padding` for the library's own, already checked, calls."""
    if stride == 1:
        total = dilation * (kernel - 1)
    else:
        total = max((-(-size // stride) - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return (total // 2, total - total // 2)


def axis_padding(padding, kernel, stride=1, dilation=1, size=None):
    """``(before, after)`` of one axis for a layer's ``padding``: an int p is (p, p),
    ``"valid"`` is (0, 0), ``"same"`` is :func:`same_padding` (which needs ``size``
    at stride > 1: the padding then depends on the input)."""
    if padding == "same":
        return _same_padding(kernel, dilation, stride, size)
    if padding == "valid":
        return (0, 0)
    return (padding, padding)


def pads_for(padding, kernel_size, stride, dilation, input_size):
    """``((before, after), ...)``, one pair per spatial axis, for a layer's ``padding``:
    ``"same"``, ``"valid"``, or one int per axis (see :func:`axis_padding`)."""
    per_axis = (padding,) * len(kernel_size) if isinstance(padding, str) else padding
    return tuple(axis_padding(p, k, s, d, n)
                 for p, k, s, d, n in zip(per_axis, kernel_size, stride, dilation, input_size))


def window_output_shape(input_hw, kernel_size, stride, pads, dilation=(1, 1), who="the layer", ceil_mode=False):
    """(OH, OW) of a (dilated) window sliding over an input padded by ``pads``.

    ``pads = ((top, bottom), (left, right))``. Per axis, with ``P`` the padded size and
    ``E = dilation*(k-1) + 1`` the window's extent:

        floor mode (the default):  out = (P - E) // stride + 1
        ceil_mode=True (PyTorch):  out = ceil((P - E) / stride) + 1, then one less if the
                                   last window would start in the bottom/right padding or
                                   beyond: (out - 1) * stride >= size + top

    In ceil mode the last window may hang over the end of the padded input (see
    :func:`ceil_pads`), even when the window is larger than the whole padded input.
    No window position at all is a ValueError that says so (``who`` names the layer).
    Shared by Conv2D and the pooling layers.
    """
    (h, w), (kh, kw), (sh, sw), (dh, dw) = input_hw, kernel_size, stride, dilation
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1       # extent of a (dilated) window
    if ceil_mode:
        oh, ow = _ceil_count(h, pads[0][0], hp - eh, sh), _ceil_count(w, pads[1][0], wp - ew, sw)
        if oh >= 1 and ow >= 1:
            return oh, ow
    elif eh <= hp and ew <= wp:
        return (hp - eh) // sh + 1, (wp - ew) // sw + 1
    raise ValueError(f"{who}: window {eh}x{ew} (kernel {kh}x{kw}, dilation {dh}x{dw}) is larger "
                     f"than the padded input {hp}x{wp} (input {h}x{w})"
                     + (" even in ceil mode" if ceil_mode else ""))


def _ceil_count(size, before, room, stride):
    """Window positions along one axis in ceil mode: ``room`` = padded size - window extent."""
    out = -(-room // stride) + 1
    if (out - 1) * stride >= size + before:          # the last window would start in the padding after
        out -= 1
    return out


def ceil_pads(input_hw, kernel_size, stride, pads, dilation=(1, 1)):
    """``pads`` with the extra bottom/right rows and columns that ceil mode's last windows
    hang over: padded so, the floor-mode windows are exactly the ceil-mode windows.

    The extra part is not input and not padding: max pooling fills it with -inf like
    the padding (it never wins), average pooling with 0 and leaves it out of every divisor.

    >>> ceil_pads((5, 5), (2, 2), (2, 2), ((0, 0), (0, 0)))     # 5 -> 3 windows: one more column
    ((0, 1), (0, 1))
    """
    oh, ow = window_output_shape(input_hw, kernel_size, stride, pads, dilation, ceil_mode=True)
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + sum(p)))
             for o, s, d, k, n, p in zip((oh, ow), stride, dilation, kernel_size, input_hw, pads)]
    return ((pads[0][0], pads[0][1] + extra[0]), (pads[1][0], pads[1][1] + extra[1]))


def pad2d(x, pads, value=0.0):
    """Pad the last two axes of ``x``: ``pads = ((top, bottom), (left, right))``.

    Allocating the output once and copying ``x`` into its middle is faster than
    ``np.pad`` and keeps the dtype.
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    *lead, h, w = x.shape
    xp = array_module(x)
    out = xp.full((*lead, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def unpad2d(x, pads):
    """Inverse of :func:`pad2d`: a view of the middle of ``x``."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]


def sliding_windows(x, kernel_size, stride=(1, 1), dilation=(1, 1), writeable=False, grid=None):
    """Strided view of every kernel window over the last two axes of ``x``.

    x: (..., H, W)  ->  windows: (..., kh, kw, OH, OW), with
    ``windows[..., i, j, oh, ow] = x[..., oh*sh + i*dh, ow*sw + j*dw]``.

    No data is copied. ``windows[..., i, j, :, :]`` is the strided slice of
    ``x`` that kernel tap ``(i, j)`` sees. With ``writeable=True`` the view can
    be used to *add into* ``x`` one tap at a time (as col2im does); within one
    tap no two windows share a pixel, so such an add never races with itself.

    ``grid=(OH, OW)`` overrides the number of window positions. The wide-grid
    fast path uses it (see :func:`minicnn.fast.wide_grid`); the caller then
    guarantees that every window stays inside the memory of ``x``.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    *lead, h, w = x.shape
    if grid is None:
        grid = (_conv_output_size(h, kh, sh, 0, dh), _conv_output_size(w, kw, sw, 0, dw))
    oh, ow = grid
    *lead_strides, s_h, s_w = x.strides
    shape = (*lead, kh, kw, oh, ow)
    strides = (*lead_strides, s_h * dh, s_w * dw, s_h * sh, s_w * sw)
    return strided_view(x, shape, strides, writeable)


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------
def im2col(x_pad, kernel_size, stride, dilation, grid=None, out=None):
    """Unfold a padded batch into the im2col matrix.

    x_pad: (N, C, H, W)  ->  cols: (C*kh*kw, N*GH*GW)

    One column per window position of the grid (GH, GW) (the output pixels
    (OH, OW), or the wider grid of :func:`minicnn.fast.wide_grid`), one row per
    (channel, kernel tap): the convolution becomes ``W.reshape(O, -1) @ cols``.
    Copying the window view into the matrix is the single copy. ``grid``: see
    :func:`sliding_windows`; without it (GH, GW) = (OH, OW).

    >>> x_pad = np.arange(2 * 3 * 4 * 4.0).reshape(2, 3, 4, 4)        # N=2, C=3, 4x4
    >>> im2col(x_pad, (3, 3), (1, 1), (1, 1)).shape                  # (3*3*3, 2*2*2)
    (27, 8)

    ``out``: a matrix to write into instead of a new one (the fast path's blocks
    write into their part of one matrix).
    """
    xp = array_module(x_pad)
    win = sliding_windows(x_pad, kernel_size, stride, dilation, grid=grid)   # (N, C, kh, kw, GH, GW)
    n, c, kh, kw, gh, gw = win.shape
    if out is None:
        out = xp.empty((c * kh * kw, n * gh * gw), dtype=x_pad.dtype)
    out.reshape(c, kh, kw, n, gh, gw)[...] = win.transpose(1, 2, 3, 0, 4, 5)
    return out


def col2im(cols, x_pad_shape, kernel_size, stride, dilation, grid=None):
    """Adjoint of :func:`im2col`: add every column back onto the pixels it came from.

    cols: (C*kh*kw, N*GH*GW)  ->  (N, C, H, W) (the padded shape)

    Overlapping windows add up. The loop runs over the ``kh*kw`` kernel taps;
    each step is one vectorised, strided add (no ``np.add.at``).
    """
    xp = array_module(cols)
    out = xp.zeros(x_pad_shape, dtype=cols.dtype)
    win = sliding_windows(out, kernel_size, stride, dilation, writeable=True, grid=grid)
    n, c, kh, kw, gh, gw = win.shape
    cols = cols.reshape(c, kh, kw, n, gh, gw)
    for i in range(kh):
        for j in range(kw):
            win[:, :, i, j] += cols[:, i, j].transpose(1, 0, 2, 3)
    return out


# ---------------------------------------------------------------------------
# Convolution: the plain reference
# ---------------------------------------------------------------------------
def conv2d_forward(x, weight, bias, stride, pads, dilation, keep_cols=True, groups=1):
    """2-D cross-correlation (PyTorch's ``conv2d``) by im2col and one matrix product.

    x: (N, C, H, W), weight: (O, C/groups, kh, kw), bias: (O,) or None,
    pads: ((top, bottom), (left, right)).

    out[n, o, r, c] = b[o] + sum_{k,i,j} W[o, k, i, j] * x_pad[n, g*C/G + k, r*sh + i*dh, c*sw + j*dw]

    with g = o // (O/G) the group of output channel o: each of the G = ``groups``
    groups of O/G outputs sees only its own C/G input channels (G = 1: every
    output sees every input; G = C: depthwise, one input channel each).

    Returns ``(out, cols)``; ``cols`` (C*kh*kw, N*OH*OW) is what the backward pass needs
    (``keep_cols=False`` tells that no backward will: the fast path then keeps none).
    """
    o, _, kh, kw = weight.shape
    cols = im2col(pad2d(x, pads), (kh, kw), stride, dilation)            # (C*kh*kw, N*OH*OW)
    out = grouped_matmul(group_weight(weight, groups, x.dtype), cols)     # (O, N*OH*OW)
    if bias is not None:
        out += bias.astype(x.dtype, copy=False)[:, None]
    oh, ow = window_output_shape(x.shape[2:], (kh, kw), stride, pads, dilation)
    return contiguous(out.reshape(o, len(x), oh, ow).transpose(1, 0, 2, 3)), cols


def conv2d_backward(grad_out, cols, weight, x_shape, stride, pads, dilation, input_grad=True, groups=1):
    """Gradients of :func:`conv2d_forward`: ``(dx, dW, db)``; dx is None unless ``input_grad``.

    grad_out: (N, O, OH, OW), laid out as dY (O, N*OH*OW), the columns of cols; per group
    (a block of O/G rows of dY and W, of C/G channels' rows of cols):

        dW = dY @ cols^T,   db = row sums of dY,   dcols = W^T @ dY,   dx = col2im(dcols)
    """
    o, _, kh, kw = weight.shape
    dy = grad_out.transpose(1, 0, 2, 3).reshape(o, -1)                    # (O, N*OH*OW)
    dy_g, cols_g = dy.reshape(groups, o // groups, -1), cols.reshape(groups, -1, cols.shape[1])
    dw = (dy_g @ cols_g.transpose(0, 2, 1)).reshape(weight.shape)
    db = dy.sum(axis=1)
    if not input_grad:
        return None, dw, db
    w_mat = group_weight(weight, groups, grad_out.dtype)                  # (G, O/G, C/G*kh*kw)
    dcols = (w_mat.transpose(0, 2, 1) @ dy_g).reshape(len(cols), -1)     # (C*kh*kw, N*OH*OW)
    (top, bottom), (left, right) = pads
    n, c, h, w = x_shape
    dx_pad = col2im(dcols, (n, c, h + top + bottom, w + left + right), (kh, kw), stride, dilation)
    return contiguous(unpad2d(dx_pad, pads)), dw, db


def group_weight(weight, groups, dtype):
    """The kernel (O, C/G, kh, kw) as G matrices (G, O/G, C/G*kh*kw), contiguous, in ``dtype``:
    the rows of output channels of group g, the columns of their C/G input channels' taps."""
    o = len(weight)
    # contiguous: a strided weight view would make BLAS sum in another order
    return contiguous(weight.reshape(groups, o // groups, -1).astype(dtype, copy=False))


def grouped_matmul(w_mat, cols):
    """W @ cols group by group: w_mat (G, O/G, K/G) with cols (K, M) -> (O, M).

    im2col's rows run channel by channel, so the rows of group g's C/G channels are
    the g-th block of K/G rows: cols.reshape(G, K/G, M) holds each group's matrix
    and one batched ``matmul`` multiplies them (G = 1: the plain product W @ cols).
    """
    g, rows = len(w_mat), w_mat.shape[1]
    return (w_mat @ cols.reshape(g, -1, cols.shape[-1])).reshape(g * rows, -1)


# ---------------------------------------------------------------------------
# Pooling: the same windows, reduced by max or mean
# ---------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, pads, argmax=False, ceil_mode=False):
    """Max over each window; padding counts as -inf.

    x: (N, C, H, W) -> out: (N, C, OH, OW), or ``(out, argmax)`` with ``argmax=True``.
    The running maximum over the kh*kw taps is one vectorised ``np.maximum`` per
    tap. ``argmax[n, c, oh, ow] = i*kw + j`` names the tap ``(i, j)`` that holds
    the window's maximum (its first one in row-major order, PyTorch's rule on
    ties): the running value only moves to a later tap that is strictly greater.
    A NaN counts as the maximum, as in PyTorch: the output is NaN and ``argmax``
    names the window's last NaN (a later NaN takes over, a number never beats one).
    ``ceil_mode=True``: PyTorch's ceil-mode windows (:func:`window_output_shape`);
    the part of the last windows past the padding counts as -inf too (:func:`ceil_pads`).
    """
    if ceil_mode:
        pads = ceil_pads(x.shape[-2:], kernel_size, stride, pads)
    xp = array_module(x)
    x_pad = pad2d(x, pads, value=-np.inf)
    win = sliding_windows(x_pad, kernel_size, stride)
    kh, kw = kernel_size
    out = win[:, :, 0, 0].copy()
    if not argmax:
        for i in range(kh):
            for j in range(kw):
                xp.maximum(out, win[:, :, i, j], out=out)
        return out
    winner = xp.zeros(out.shape, dtype=np.min_scalar_type(kh * kw - 1))
    greater = xp.empty(out.shape, dtype=bool)
    for t in range(1, kh * kw):
        tap = win[:, :, t // kw, t % kw]
        xp.greater(tap, out, out=greater)
        xp.maximum(out, tap, out=out)              # (NaN wins here: maximum propagates it)
        # t exceeds every earlier index, so a max sets winner = t exactly where greater
        xp.maximum(winner, greater.view(np.uint8) * winner.dtype.type(t), out=winner)
    nan = xp.isnan(out)
    # rare: route to the window's last NaN (PyTorch). Where asking whether any NaN is there
    # would wait (a GPU), the routing always runs (four array operations).
    if not readable_now(nan) or nan.any():
        nan_taps = xp.isnan(win).reshape(*out.shape[:2], kh * kw, *out.shape[2:])   # (N, C, kh*kw, OH, OW)
        last_nan = (kh * kw - 1) - nan_taps[:, :, ::-1].argmax(axis=2)
        winner = xp.where(nan, last_nan.astype(winner.dtype), winner)
    return out, winner


def max_pool2d_backward(grad_out, argmax, x_shape, kernel_size, stride, pads, ceil_mode=False):
    """Route each window's gradient to its maximum, the tap ``argmax`` names.

    grad_out, argmax: (N, C, OH, OW) -> dx: x_shape. One masked add per tap.
    (The maximum is never in the padding, nor in ceil mode's overhang: every window
    holds an input pixel, and -inf never beats one.)
    """
    dx_pad, dwin, pads = pool_gradient_windows(grad_out, x_shape, kernel_size, stride, pads, ceil_mode)
    kh, kw = kernel_size
    for t in range(kh * kw):
        dwin[:, :, t // kw, t % kw] += grad_out * (argmax == t)
    return unpad2d(dx_pad, pads)


def pool_gradient_windows(grad_out, x_shape, kernel_size, stride, pads, ceil_mode=False):
    """``(dx_pad, windows, pads)`` for a pooling backward: zeros shaped as the padded input
    (ceil mode's overhang included, see :func:`ceil_pads`, which ``pads`` then holds), and
    their writeable :func:`sliding_windows`, into which each tap's gradient is added."""
    xp = array_module(grad_out)
    if ceil_mode:
        pads = ceil_pads(x_shape[-2:], kernel_size, stride, pads)
    (top, bottom), (left, right) = pads
    n, c, h, w = x_shape
    dx_pad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=grad_out.dtype)
    return dx_pad, sliding_windows(dx_pad, kernel_size, stride, writeable=True), pads


def avg_pool2d_forward(x, kernel_size, stride, pads, count_include_pad=True, ceil_mode=False):
    """Mean over each window. The zero padding is counted in the divisor (PyTorch's
    default, kh*kw for every window), or with ``count_include_pad=False`` only the
    window's pixels of x are (TensorFlow's 'SAME' pooling).

    ``ceil_mode=True``: PyTorch's ceil-mode windows; the part of a last window past the
    padding (see :func:`ceil_pads`) never counts: such a window divides by its positions
    inside the padded input (``count_include_pad``) or its pixels of x (otherwise).
    """
    xp = array_module(x)
    x_pad = pad2d(x, ceil_pads(x.shape[-2:], kernel_size, stride, pads) if ceil_mode else pads)
    win = sliding_windows(x_pad, kernel_size, stride)
    kh, kw = kernel_size
    out = win[:, :, 0, 0].copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += win[:, :, i, j]
    divisor = avg_pool_divisors(x.shape[-2:], kernel_size, stride, pads, count_include_pad, ceil_mode, xp)
    if divisor is None:
        out *= out.dtype.type(1.0 / (kh * kw))
    else:
        out /= divisor.astype(out.dtype)
    return out


def avg_pool2d_backward(grad_out, x_shape, kernel_size, stride, pads, count_include_pad=True, ceil_mode=False):
    """Each window's gradient, divided by its divisor, spread over its pixels."""
    xp = array_module(grad_out)
    divisor = avg_pool_divisors(x_shape[-2:], kernel_size, stride, pads, count_include_pad, ceil_mode, xp)
    dx_pad, dwin, pads = pool_gradient_windows(grad_out, x_shape, kernel_size, stride, pads, ceil_mode)
    kh, kw = kernel_size
    if divisor is None:
        share = grad_out * grad_out.dtype.type(1.0 / (kh * kw))
    else:
        share = grad_out / divisor.astype(grad_out.dtype)
    for i in range(kh):
        for j in range(kw):
            dwin[:, :, i, j] += share
    return unpad2d(dx_pad, pads)


def avg_pool_divisors(input_hw, kernel_size, stride, pads, count_include_pad=True, ceil_mode=False, xp=np):
    """(OH, OW): what each window's sum is divided by, or None when it is kh*kw for all
    (an array of the module ``xp``: made on the device that divides by it).

    - ``count_include_pad``: the window's positions inside the padded input, kh*kw
      unless a ceil-mode window hangs over its end (PyTorch clips it there);
    - otherwise: the window's pixels of x.
    """
    full = ceil_pads(input_hw, kernel_size, stride, pads) if ceil_mode else pads
    if not count_include_pad:
        return window_counts(input_hw, kernel_size, stride, full, xp)
    if full == pads:
        return None
    padded_hw = (input_hw[0] + sum(pads[0]), input_hw[1] + sum(pads[1]))
    overhang = ((0, full[0][1] - pads[0][1]), (0, full[1][1] - pads[1][1]))
    return window_counts(padded_hw, kernel_size, stride, overhang, xp)


def adaptive_pool_matrix(size, out, dtype=np.float64, xp=np):
    """(out, size): row i averages bin i of an axis of ``size`` cut into ``out`` bins,

        bin i = [floor(i * size / out), ceil((i + 1) * size / out))

    PyTorch's rule: the bins cover the axis, may overlap and may differ in size by one
    or two. When ``out`` divides ``size`` they are the windows of an AvgPool of kernel
    and stride size / out.

    >>> adaptive_pool_matrix(5, 3)      # bins [0, 2), [1, 4), [3, 5)
    array([[0.5       , 0.5       , 0.        , 0.        , 0.        ],
           [0.        , 0.33333333, 0.33333333, 0.33333333, 0.        ],
           [0.        , 0.        , 0.        , 0.5       , 0.5       ]])
    """
    i = xp.arange(out)
    start, end = i * size // out, -(-(i + 1) * size // out)
    inside = (xp.arange(size) >= start[:, None]) & (xp.arange(size) < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d_forward(x, output_hw):
    """Adaptive average pooling: x (N, C, H, W) -> (N, C, OH, OW), the mean of each bin
    of :func:`adaptive_pool_matrix` along H and along W:

        y = A_h x A_w^T     (A_h: (OH, H), A_w: (OW, W); two matrix products per map)
    """
    xp = array_module(x)
    (h, w), (oh, ow) = x.shape[-2:], output_hw
    return separable_product(x, adaptive_pool_matrix(h, oh, x.dtype, xp), adaptive_pool_matrix(w, ow, x.dtype, xp))


def adaptive_avg_pool2d_backward(grad_out, x_shape):
    """Gradient of :func:`adaptive_avg_pool2d_forward`: dx = A_h^T dy A_w."""
    xp = array_module(grad_out)
    (h, w), (oh, ow), dtype = x_shape[-2:], grad_out.shape[-2:], grad_out.dtype
    return separable_product(grad_out, adaptive_pool_matrix(h, oh, dtype, xp).T,
                             adaptive_pool_matrix(w, ow, dtype, xp).T)


def separable_product(x, m_h, m_w):
    """``m_h @ x @ m_w.T`` over the last two axes of ``x``, with the inf and NaN of ``x``
    reaching only the outputs that use them, as a sum over the non-zero weights would.

    The matrix products alone would give 0 * inf = NaN in every output of an inf's row;
    that rare case is recomputed: the finite part by the products, then each output
    that uses a NaN, or both +inf and -inf, is NaN; one that uses +inf (-inf) only is +inf (-inf).
    """
    xp = array_module(x)
    y = m_h @ x @ m_w.T
    # every input finite (overflow also lands here, harmlessly); where asking would wait
    # (a GPU), the recomputation below always runs
    if readable_now(y) and xp.isfinite(y).all():
        return y
    y = m_h @ xp.where(xp.isfinite(x), x, 0) @ m_w.T
    uses_h, uses_w = (m_h != 0).astype(np.float64), (m_w != 0).astype(np.float64)

    def reached(mask):
        return (uses_h @ mask.astype(np.float64) @ uses_w.T) > 0
    up, down = reached(x == np.inf), reached(x == -np.inf)
    y = xp.where(up, y.dtype.type(np.inf), y)
    y = xp.where(down, y.dtype.type(-np.inf), y)
    return xp.where(reached(xp.isnan(x)) | (up & down), y.dtype.type(np.nan), y)


def window_counts(input_hw, kernel_size, stride, pads, xp=np):
    """(OH, OW): how many pixels of the (unpadded) input each window covers."""
    ones = pad2d(xp.ones(input_hw), pads)
    return sliding_windows(ones, kernel_size, stride).sum(axis=(0, 1))


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------
def sigmoid(x):
    """1 / (1 + exp(-x)), written so that no ``exp`` ever overflows."""
    return _sigmoid(check_array(x, "x"))


def _sigmoid(x):
    """:func:`sigmoid` for the library's own, already checked, calls (the Sigmoid layer)."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))                       # in (0, 1]: never overflows
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def log_softmax(z, axis=-1):
    """log(softmax(z)) = z - max - log(sum(exp(z - max))): exact for huge logits.

    An inf logit gives NaN (inf - inf) quietly, as in PyTorch. A non-contiguous
    ``z`` is copied first, so that its sums run in the same order as its copy's.
    """
    z = contiguous(check_array(z, "z"))
    return _log_softmax(z, check_axis(axis, z.ndim))


def _log_softmax(z, axis):
    """:func:`log_softmax` for the library's own calls, on a checked, contiguous ``z``."""
    xp = array_module(z)
    if z.size == 0:                           # nothing to normalise (max() has no identity)
        return z.copy()
    with np.errstate(invalid="ignore"):
        shifted = z - z.max(axis=axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z, axis=-1):
    """exp(z) / sum(exp(z)), shifted by the maximum so that exp never overflows
    (NaN for an inf logit, quietly; see :func:`log_softmax`)."""
    z = contiguous(check_array(z, "z"))
    return _softmax(z, check_axis(axis, z.ndim))


def _softmax(z, axis):
    """:func:`softmax` for the library's own calls, on a checked, contiguous ``z`` (the Softmax layer)."""
    xp = array_module(z)
    if z.size == 0:
        return z.copy()
    with np.errstate(invalid="ignore"):
        e = xp.exp(z - z.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)


def channel_shuffle(x, groups):
    """ShuffleNet's channel shuffle: x (N, C, *) with C = groups * k -> the same shape, the
    channels of the ``groups`` groups interleaved:

        y[:, i * groups + g] = x[:, g * k + i]       (g < groups, i < k)

    as a reshape to (N, groups, k, *), a swap of those two axes and a reshape back (the
    copy that reshape makes of the swapped view is the result). Its inverse is the shuffle
    with ``k`` groups: the gradient goes back so.
    """
    n, c = x.shape[:2]
    return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


def contiguous(x):
    """``x`` itself if C-contiguous, else a C-ordered copy (0-d arrays stay 0-d).

    Reductions and BLAS add a view's elements in another order than its copy's;
    copying first makes a view's result bit-identical to its copy's.
    """
    return x if x.flags.c_contiguous else x.copy(order="C")

