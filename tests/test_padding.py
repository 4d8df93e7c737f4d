"""'same' padding at any stride (TensorFlow's rule) and average pooling without the padding
in its count: what a Keras or TensorFlow user expects."""
import numpy as np
import pytest

import minicnn as mc
from minicnn import functional as F
from minicnn import layers as L


@pytest.mark.parametrize("size, kernel, stride, dilation, pads", [
    (28, 3, 2, 1, (0, 1)),        # out 14: total (14-1)*2 + 3 - 28 = 1, the extra row at the bottom
    (5, 3, 2, 1, (1, 1)),         # out 3: total 2
    (6, 3, 2, 1, (0, 1)),         # out 3: total 1
    (7, 4, 3, 1, (1, 2)),         # out 3: total (3-1)*3 + 4 - 7 = 3
    (4, 1, 2, 1, (0, 0)),         # a 1x1 kernel never pads
    (9, 3, 1, 2, (2, 2)),         # stride 1: dilation * (kernel - 1), whatever the size (PyTorch's)
    (9, 2, 1, 1, (0, 1)),
])
def test_same_padding_follows_tensorflow(size, kernel, stride, dilation, pads):
    assert F.same_padding(kernel, dilation, stride, size) == pads
    layer = L.Conv2D(1, 1, kernel, stride=stride, padding="same", dilation=dilation)
    assert layer.pads_for((size, size)) == (pads, pads)
    assert layer.output_shape((1, size, size)) == (1, -(-size // stride), -(-size // stride))


def test_same_conv_at_stride_2_is_the_conv_of_the_padded_image():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    same = L.Conv2D(3, 4, 3, stride=2, padding="same", dtype=np.float64)
    plain = L.Conv2D(3, 4, 3, stride=2, dtype=np.float64)
    for name in same.params:
        plain.params[name].data[...] = same.params[name].data
    # TensorFlow's pads: rows (1, 1) for 7 -> 4, columns (0, 1) for 6 -> 3
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 1)))
    np.testing.assert_allclose(same.forward(x), plain.forward(padded), rtol=1e-12)
    with pytest.raises(ValueError, match="pads_for"):
        same.pads


def test_same_pooling_and_keras_average_pooling():
    x = np.arange(1.0, 26.0).reshape(1, 1, 5, 5)
    mp = L.MaxPool2D(2, padding="same")            # 5 -> 3, the extra row/column at the end (-inf)
    np.testing.assert_array_equal(mp.forward(x)[0, 0], [[7, 9, 10], [17, 19, 20], [22, 24, 25]])
    keras = L.AvgPool2D(2, padding="same", count_include_pad=False)     # the padding is not counted
    np.testing.assert_allclose(keras.forward(x)[0, 0], [[4, 6, 7.5], [14, 16, 17.5], [21.5, 23.5, 25]])
    torch_like = L.AvgPool2D(2, padding="same")    # counted: the last column/row averages with zeros
    np.testing.assert_allclose(torch_like.forward(x)[0, 0, 2], [21.5 / 2, 23.5 / 2, 25 / 4])


def test_same_padding_round_trips_through_save_and_summary(tmp_path):
    mc.manual_seed(0)
    model = mc.Sequential([L.Conv2D(1, 2, 3, stride=2, padding="same"), L.MaxPool2D(3, 2, padding="same"),
                           L.AvgPool2D(2, padding="same", count_include_pad=False), L.Flatten()])
    assert "(2, 4, 4)" in model.summary((1, 15, 15)) and "(2, 2, 2)" in model.summary((1, 15, 15))
    model.save(tmp_path / "m.npz")
    again = mc.Sequential.load(tmp_path / "m.npz")
    x = np.random.default_rng(0).random((2, 1, 15, 15)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert again.architecture() == model.architecture()
