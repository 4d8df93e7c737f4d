"""Exercise 11 of 16: the convolution's backward pass.

Check it:  python -m minicnn.exercises check ex11_conv2d_backward.py
Read:      examples/tutorial/13_backprop_by_hand.py (dW, db and dx of a convolution, stride 2),
           14_learn_sobel.py (the gradient at work)
"""
import numpy as np


def conv2d_backward(dout, x, W, stride, padding):
    """Gradients of out = conv2d_forward(x, W, b, stride, padding) (exercise 1).

    dout: (N, O, OH, OW) = dLoss/dout; x: (N, C, H, W); W: (O, C, kh, kw); stride, padding: ints
    returns (dx, dW, db), in x's dtype, shaped like x, W and b:

        db[o]          = sum over n, r, c of dout[n, o, r, c]
        dW[o, k, i, j] = sum over n, r, c of dout[n, o, r, c] * x_pad[n, k, r*stride + i, c*stride + j]
        dx_pad[n, k, r*stride + i, c*stride + j] += dout[n, o, r, c] * W[o, k, i, j]   (for all n, o, r, c, i, j)
        dx             = dx_pad without its `padding` rows and columns on each side

    Hints:
    - every window that used a pixel sends a gradient back to it: add (+=), windows overlap;
    - loop over the kh*kw offsets (i, j): for one offset, the pixels x_pad[:, :, i::stride, j::stride]
      (cut to OH x OW) meet dout in every window at once; np.einsum or tensordot does the sums
      over n, r, c (for dW) and over o (for dx);
    - scattering dout * W back onto each window is the "full convolution with the flipped kernel"
      of the textbooks: if you write dx as a correlation, the kernel must be turned by 180 degrees;
    - crop the padding from dx at the end: dx has x's shape;
    - the checker compares with the numerical gradient of your conv2d_forward (exercise 1).
    """
    raise NotImplementedError
