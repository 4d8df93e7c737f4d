"""Every fast path of minicnn.fast equals its plain reference in minicnn.functional.

On every Hypothesis case of the gradient checks (shapes, kernels, strides, paddings,
dilations, groups), in float64, to rounding: the fast paths add the same products in
another order (wider matrices, a transposed convolution), so "equal" means within a
few ulps of the values' size, not bit for bit. ``minicnn.reference_paths()`` switches
a whole network onto the references.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_gradients import _hw, conv_cases, make_conv, pool_cases, seeds

import minicnn as mc
from minicnn import fast
from minicnn import functional as F
from minicnn import layers as L
from minicnn import paths

RTOL = ATOL = 1e-12


def assert_close(fast_value, reference):
    if reference is None:
        assert fast_value is None
        return
    assert fast_value.shape == reference.shape and fast_value.dtype == reference.dtype
    np.testing.assert_allclose(fast_value, reference, rtol=RTOL, atol=ATOL)


def conv_inputs(case, seed):
    rng = np.random.default_rng(seed)
    layer = make_conv(case)
    x = rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    w = layer.params["W"].data
    b = layer.params["b"].data + rng.standard_normal(case["c_out"]) if case["bias"] else None
    return layer, x, w, b, rng


def reference_conv(x, w, b, layer, g, input_grad=True):
    pads = layer.pads_for(x.shape[2:])
    with mc.reference_paths():
        out, cols = F.conv2d_forward(x, w, b, layer.stride, pads, layer.dilation, groups=layer.groups)
        grads = F.conv2d_backward(g, cols, w, x.shape, layer.stride, pads, layer.dilation, input_grad,
                                  groups=layer.groups)
    return out, grads


@given(conv_cases(), seeds, st.booleans())
def test_fast_convolution_equals_the_reference(case, seed, input_grad):
    """fast.conv2d_forward/backward (wide grid, operand order, dx path, blocks), grouped or not."""
    layer, x, w, b, rng = conv_inputs(case, seed)
    g = rng.standard_normal((case["n"], *layer.output_shape(x.shape[1:])))
    ref_out, ref_grads = reference_conv(x, w, b, layer, g, input_grad)
    pads = layer.pads_for(x.shape[2:])
    out, cols = fast.conv2d_forward(x, w, b, layer.stride, pads, layer.dilation, groups=layer.groups)
    assert_close(out, ref_out)
    grads = fast.conv2d_backward(g, cols, w, x.shape, layer.stride, pads, layer.dilation, input_grad,
                                 groups=layer.groups)
    for got, want in zip(grads, ref_grads):
        assert_close(got, want)


@given(conv_cases(), seeds)
def test_wide_grid_im2col_holds_the_reference_columns(case, seed):
    """The wide grid's matrix holds the reference's im2col columns, plus columns that are dropped."""
    if _hw(case["stride"]) != (1, 1):
        return
    layer, x, w, _, _ = conv_inputs(case, seed)
    kh, kw = layer.kernel_size
    (oh, ow), grid, grid_pads = fast.wide_grid(x.shape, (kh, kw), layer.pads, layer.dilation)
    wide = F.im2col(F.pad2d(x, grid_pads), (kh, kw), (1, 1), layer.dilation, grid)
    narrow = F.im2col(F.pad2d(x, layer.pads), (kh, kw), (1, 1), layer.dilation)
    kept = wide.reshape(-1, case["n"], *grid)[:, :, :oh, :ow].reshape(narrow.shape)
    np.testing.assert_array_equal(kept, narrow)


@given(conv_cases(), seeds)
def test_input_grad_by_convolution_equals_col2im(case, seed):
    """Fast path 3 on every stride-1 geometry, not only the channel counts that pick it."""
    if _hw(case["stride"]) != (1, 1):
        return
    layer, x, w, _, rng = conv_inputs(case, seed)
    g = rng.standard_normal((case["n"], *layer.output_shape(x.shape[1:])))
    _, (ref_dx, _, _) = reference_conv(x, w, None, layer, g)
    assert_close(fast.input_grad_by_convolution(g, w, layer.pads, layer.dilation, layer.groups), ref_dx)


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 60), st.sampled_from([(), (1,), (3,)]), seeds)
def test_weight_grad_in_either_operand_order(rows, o, columns, groups, seed):
    """Plain (2-D) and batched over groups (3-D), each group's dY @ cols^T."""
    rng = np.random.default_rng(seed)
    cols, dy = rng.standard_normal((*groups, rows, columns)), rng.standard_normal((*groups, o, columns))
    assert_close(fast.weight_grad(cols, dy, (*groups, o, rows)), np.einsum("...om,...rm->...or", dy, cols))


@pytest.mark.parametrize("groups", [1, 2, 16])
def test_fast_grouped_convolution_takes_every_fast_path(groups):
    """At 16 channels and stride 1 the fast path takes the wide grid and dx by convolution
    (O <= 2C); the Hypothesis cases above have too few channels for the wide grid."""
    rng = np.random.default_rng(groups)
    layer = L.Conv2D(16, 32, 3, padding=1, dilation=2, groups=groups, dtype=np.float64)
    x = rng.standard_normal((3, 16, 7, 9))
    g = rng.standard_normal((3, 32, 5, 7))
    assert fast._grid(x.shape, (3, 3), (1, 1), layer.pads, (2, 2))[1] == (5, 11)     # the wide grid
    ref_out, ref_grads = reference_conv(x, layer.params["W"].data, layer.params["b"].data, layer, g)
    out = layer.forward(x, training=True)
    assert_close(out, ref_out)
    for got, want in zip((layer.backward(g), layer.params["W"].grad, layer.params["b"].grad), ref_grads):
        assert_close(got, want)


def test_a_backward_with_cols_of_the_other_setting_is_refused():
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3))
    with mc.reference_paths():
        _, cols = F.conv2d_forward(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    with pytest.raises(ValueError, match="same fast-path setting"):
        paths.conv2d_backward(np.ones((1, 1, 4, 4)), cols, w, x.shape, (1, 1), ((1, 1), (1, 1)), (1, 1))


@given(pool_cases(), seeds)
def test_fast_max_pool_backward_equals_the_reference(case, seed):
    """Fast path 5: bit for bit (writing into zeros is adding to them); in ceil mode too."""
    rng = np.random.default_rng(seed)
    ceil = case["ceil_mode"]
    pool = L.MaxPool2D(case["kernel_size"], case["stride"], case["padding"], ceil_mode=ceil)
    x = rng.integers(0, 3, (case["n"], case["c"], case["h"], case["w"])).astype(np.float64)   # ties
    pads = pool.pads_for(x.shape[2:])
    out, argmax = F.max_pool2d_forward(x, pool.kernel_size, pool.stride, pads, argmax=True, ceil_mode=ceil)
    assert out.shape[2:] == pool.output_shape(x.shape[1:])[1:]
    g = rng.standard_normal(out.shape)
    with mc.reference_paths():
        ref = F.max_pool2d_backward(g, argmax, x.shape, pool.kernel_size, pool.stride, pads, ceil)
    got = fast.max_pool2d_backward(g, argmax, x.shape, pool.kernel_size, pool.stride, pads, ceil)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(ref.sum(), g.sum(), rtol=1e-12, atol=1e-12)   # every window routes to a pixel


def test_reference_paths_run_a_whole_network_to_the_same_result():
    """The switch covers every layer of a network, forward and backward, and is undone after."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 9, 9))
    g = rng.standard_normal((3, 5))

    def run():
        mc.manual_seed(0)
        model = mc.Sequential([
            L.Conv2D(2, 4, 3, padding=1, dtype=np.float64), L.ReLU(), L.MaxPool2D(2),
            L.Conv2D(4, 3, 3, padding="same", dilation=2, dtype=np.float64), L.BatchNorm(3, dtype=np.float64),
            L.Conv2D(3, 3, 2, stride=2, dtype=np.float64), L.Flatten(), L.Dense(12, 5, dtype=np.float64)])
        out = model.forward(x, training=True)
        dx = model.backward(g)
        return [out, dx] + [p.grad for p in model.parameters()]

    fast_results = run()
    with mc.reference_paths():
        assert not paths.fast_paths_enabled()
        reference = run()
    assert paths.fast_paths_enabled()
    for got, want in zip(fast_results, reference):
        assert_close(got, want)


def test_backward_runs_on_the_paths_its_forward_ran_on():
    """Switching between forward and backward must not mix the two (their cols differ)."""
    layer = L.Conv2D(2, 3, 3, padding=1, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    with mc.reference_paths():
        y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))                 # the fast paths are on again here
    layer.forward(x, training=True)
    with mc.reference_paths():
        assert_close(layer.backward(np.ones_like(y)), dx)


@given(conv_cases(), seeds, st.sampled_from([1 << 8, 1 << 12, 1 << 16]), st.booleans())
def test_the_convolution_in_blocks_equals_the_reference(case, seed, block_bytes, keep_cols):
    """Fast path 6: the batch in blocks of a few samples (as inference at batch 1000 runs),
    with or without keeping the blocks' matrices, gives the reference's numbers."""
    layer, x, w, b, rng = conv_inputs(case, seed)
    x = np.concatenate([x] * 3)                               # a batch of several blocks
    g = rng.standard_normal((len(x), *layer.output_shape(x.shape[1:])))
    ref_out, ref_grads = reference_conv(x, w, b, layer, g)
    pads, saved = layer.pads_for(x.shape[2:]), fast.BLOCK_BYTES
    try:
        fast.BLOCK_BYTES = block_bytes
        out, cols = fast.conv2d_forward(x, w, b, layer.stride, pads, layer.dilation, keep_cols=keep_cols,
                                        groups=layer.groups)
        assert_close(out, ref_out)
        assert (cols is None) == (not keep_cols)
        if keep_cols:
            grads = fast.conv2d_backward(g, cols, w, x.shape, layer.stride, pads, layer.dilation,
                                         groups=layer.groups)
            for got, want in zip(grads, ref_grads):
                assert_close(got, want)
    finally:
        fast.BLOCK_BYTES = saved


def test_relu_before_max_pool_runs_after_it_to_the_same_bits():
    """Fast path 7: Sequential runs a ReLU followed by a MaxPool2D the other way round; the
    outputs, every gradient and the input gradient are the reference order's bit for bit,
    ties, NaN, windows entirely <= 0, padding and ceil mode's overhanging windows included."""
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((5, 3, 9, 9)), 1)          # ties and zeros
    x[0, 0, :3, :3] = -1.0                                     # a window entirely negative
    x[1, 1, 4, 4] = np.nan

    def run():
        mc.manual_seed(0)
        model = mc.Sequential([L.Dense(9, 9, dtype=np.float64), L.ReLU(),        # (Dense has no fast path)
                               L.MaxPool2D(3, 2, padding=1), L.ReLU(), L.MaxPool2D(2, ceil_mode=True),
                               L.Flatten(), L.Dense(27, 3, dtype=np.float64)])   # ceil: 5x5 -> 3x3
        inputs = [x, x[:, :, ::-1]]
        results = []
        for xi in inputs:
            out = model.forward(np.ascontiguousarray(xi), training=True)
            dx = model.backward(np.ones_like(out))
            results += [out, dx] + [p.grad.copy() for p in model.parameters()]
        return results, model
    fast_results, model = run()
    assert model._order[:5] == [0, 2, 1, 4, 3]
    with mc.reference_paths():
        reference, model = run()
    assert model._order == list(range(7))
    for got, want in zip(fast_results, reference):
        np.testing.assert_array_equal(got, want)


def test_one_convolution_reads_in_three_files_with_the_fast_twin_one_hop_away():
    """benchmarks/conv_trace.py's call trace of Conv2D forward + backward: its reading path
    (checks, devices.py and the Parameter's bookkeeping left out) is the layer, its base and
    functional.py, on either paths; by default the fast twins add fast.py, and nothing else."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "conv_trace.py"
    spec = importlib.util.spec_from_file_location("conv_trace", path)
    conv_trace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv_trace)
    calls = conv_trace.trace(path.parent.parent)
    for mode in ("default", "reference"):
        s = conv_trace.summary(calls[mode])
        assert s["reading_path"] == ["functional.py", "layers/base.py", "layers/conv.py"], (mode, s)
        assert (s["hop_functions"] > 0) == (mode == "default"), (mode, s)
    assert "fast.py" not in calls["reference"]
