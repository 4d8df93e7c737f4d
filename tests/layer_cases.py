"""One training-sized case of every layer class: ``LAYERS = [(make, input_shape), ...]``.

float64 where the layer has a dtype, shapes small enough for a test, and the variants that
take other code paths (stride, dilation, groups, ceil mode, the wide grid, shortcuts).
``tests/test_devices.py`` runs each on the device, ``benchmarks/bench_gpu.py`` on a real GPU;
this module imports no test tools, so that the benchmark can use it anywhere.
"""
import numpy as np

from minicnn import layers as L

F64 = np.float64
LAYERS = [
    (lambda: L.Conv2D(3, 4, 3, padding=1, dtype=F64), (2, 3, 6, 6)),
    (lambda: L.Conv2D(3, 4, (3, 2), stride=2, padding="same", dilation=(1, 2), dtype=F64), (2, 3, 7, 8)),
    (lambda: L.Conv2D(4, 4, 3, groups=4, bias=False, dtype=F64), (2, 4, 5, 5)),
    (lambda: L.Conv2D(8, 16, 3, padding=1, dtype=F64), (2, 8, 6, 6)),      # the CPU's wide grid
    (lambda: L.Conv1D(3, 2, 3, padding="same", dtype=F64), (2, 3, 7)),
    (lambda: L.MaxPool2D(2), (2, 3, 6, 6)),
    (lambda: L.MaxPool2D(3, 2, padding=1, ceil_mode=True), (2, 3, 6, 7)),
    (lambda: L.AvgPool2D(3, 2, padding=1, count_include_pad=False, ceil_mode=True), (2, 3, 6, 7)),
    (lambda: L.AvgPool2D(2), (2, 3, 4, 4)),
    (lambda: L.MaxPool1D(2), (2, 3, 6)),
    (lambda: L.AvgPool1D(3, 2, ceil_mode=True), (2, 3, 8)),
    (lambda: L.GlobalAvgPool2D(), (2, 3, 4, 4)),
    (lambda: L.AdaptiveAvgPool2D((2, 3)), (2, 3, 5, 7)),
    (lambda: L.GlobalAvgPool1D(), (2, 3, 7)),
    (lambda: L.Dense(4, 3, dtype=F64), (2, 4)),
    (lambda: L.Flatten(), (2, 3, 4)),
    (lambda: L.Reshape((4, 3)), (2, 12)),
    (lambda: L.ReLU(), (2, 5)),
    (lambda: L.ReLU6(), (2, 5)),
    (lambda: L.LeakyReLU(0.1), (2, 5)),
    (lambda: L.Sigmoid(), (2, 5)),
    (lambda: L.Tanh(), (2, 5)),
    (lambda: L.Softmax(), (2, 5)),
    (lambda: L.LogSoftmax(), (2, 5)),
    (lambda: L.LogSoftmax(axis=1), (2, 3, 4, 4)),
    (lambda: L.SiLU(), (2, 5)),
    (lambda: L.Hardsigmoid(), (2, 3, 4, 4)),
    (lambda: L.Hardswish(), (2, 3, 4, 4)),
    (lambda: L.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, -0.225)), (2, 3, 4, 4)),
    (lambda: L.Normalize(0.1307, 0.3081), (2, 1, 5)),
    (lambda: L.ChannelShuffle(2), (2, 6, 3, 3)),
    (lambda: L.ChannelSlice(1, 3), (2, 4, 3, 3)),
    (lambda: L.Dropout(0.0), (2, 5)),
    (lambda: L.BatchNorm(3, dtype=F64), (4, 3)),
    (lambda: L.BatchNorm(3, dtype=F64), (2, 3, 4, 4)),
    (lambda: L.LocalResponseNorm(3), (2, 4, 5, 5)),
    (lambda: L.Residual([L.Conv2D(3, 3, 3, padding=1, dtype=F64), L.BatchNorm(3, dtype=F64), L.ReLU()]),
     (2, 3, 5, 5)),
    (lambda: L.Residual([L.Conv2D(3, 4, 3, stride=2, padding=1, dtype=F64)], [L.Conv2D(3, 4, 1, stride=2, dtype=F64)]),
     (2, 3, 6, 6)),
    (lambda: L.Concat([[L.Conv2D(3, 2, 1, dtype=F64)], L.MaxPool2D(3, 1, 1)]), (2, 3, 5, 5)),
    (lambda: L.SqueezeExcitation(3, 2, dtype=F64), (2, 3, 5, 5)),
    (lambda: L.SqueezeExcitation(3, 2, "SiLU", "Hardsigmoid", batch_norm=True, dtype=F64), (2, 3, 5, 5)),
]
