"""Exercise 3 of 16: the convolution as one matrix product (im2col, then @).

Check it:  python -m minicnn.exercises check ex03_conv2d_forward_im2col.py
Read:      examples/tutorial/16_weight_sharing.py (a convolution is a matrix product)
"""
import numpy as np

# Use your im2col: `from ex02_im2col import im2col` works when this file sits beside
# ex02_im2col.py (as `python -m minicnn.exercises new` writes them), or copy it here.


def conv2d_forward_im2col(x, W, b, stride, padding):
    """The same convolution as exercise 1, vectorised: no loop over pixels or samples.

    x: (N, C, H, W), W: (O, C, kh, kw), b: (O,), stride, padding: ints
    returns out: (N, O, OH, OW), in x's dtype

        cols = im2col(x, kh, kw, stride, padding)      (N*OH*OW, C*kh*kw)
        y    = cols @ W.reshape(O, -1).T + b           (N*OH*OW, O): row (n, oh, ow), column o

    Hints:
    - y's rows are (n, oh, ow): reshape it to (N, OH, OW, O), then transpose to (N, O, OH, OW);
      reshaping straight to (N, O, OH, OW) scrambles the pixels;
    - this is how minicnn's Conv2D computes (functional.conv2d_forward, with the transposed
      layout W.reshape(O, -1) @ cols); train uses this one when it passes.
    """
    raise NotImplementedError
