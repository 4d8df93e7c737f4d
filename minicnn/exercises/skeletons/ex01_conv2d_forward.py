"""Exercise 1 of 16: the convolution's forward pass, by hand (loops are fine here).

Check it:  python -m minicnn.exercises check ex01_conv2d_forward.py
Read:      examples/tutorial/02_convolution_by_hand.py (the double loop, correlation vs convolution),
           03_output_size.py (the size formula), 07_padding_stride_dilation.py (padding and stride)
"""
import numpy as np


def conv2d_forward(x, W, b, stride, padding):
    """2-D convolution as CNNs compute it (a cross-correlation: the kernel is NOT flipped).

    x: (N, C, H, W) input batch        W: (O, C, kh, kw) kernels (OIHW)        b: (O,) biases
    stride, padding: ints (the same for both axes)
    returns out: (N, O, OH, OW), in x's dtype, with

        OH = (H + 2*padding - kh) // stride + 1        OW = (W + 2*padding - kw) // stride + 1
        out[n, o, r, c] = b[o] + sum over k, i, j of  W[o, k, i, j] * x_pad[n, k, r*stride + i, c*stride + j]

    where x_pad is x with `padding` zeros added on every side of H and W.

    Hints:
    - pad first: np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)));
    - step 2 writes the double loop over (r, c) for one channel; add loops over n and o, and
      let NumPy sum over k, i, j: (x_pad[n, :, rows, cols] * W[o]).sum();
    - make out with dtype=x.dtype: a float32 batch gives a float32 output;
    - the kernel is used as written: flipping it (W[..., ::-1, ::-1]) is scipy's convolve2d,
      the mathematician's convolution, not a CNN layer's (step 2, "correlation vs convolution").
    """
    raise NotImplementedError
