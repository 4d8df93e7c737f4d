"""The containers (Chain, Sequential, BranchedLayer) and the checked entry points of Layer:
forward options in any order followed by backward and predict, and layers a user writes
the older way. (No import of minicnn.model from the layers: tests/test_imports.py.)"""
import contextlib
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import layers as L

F64 = np.float64


# ---------------------------------------------------------------------------
# Every forward option, then backward and predict, in any order. A ReLU before a
# MaxPool2D is the case to watch: forward runs the two swapped (a fast path, see
# Chain._running_order) but in the written order with return_activations, and
# backward must replay the order the last forward ran.
# ---------------------------------------------------------------------------
def issue_model():
    mc.manual_seed(0)
    return mc.Sequential([L.Conv2D(1, 4, 3, padding=1), L.ReLU(), L.MaxPool2D(2), L.Flatten(), L.Dense(64, 3)])


def _copy(model):
    twin = mc.Sequential([L.build_layer(item) for item in model.architecture()])
    twin.load_state_dict(model.state_dict())
    return twin


def _paths(reference):
    return mc.reference_paths() if reference else contextlib.nullcontext()


_X = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
_G = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)

forward_options = st.tuples(st.booleans(), st.booleans(), st.booleans())   # training, activations, reference
steps = st.lists(st.one_of(st.tuples(st.just("forward"), forward_options),
                           st.tuples(st.just("backward"), st.booleans()),          # input_grad
                           st.just(("predict", None))), max_size=6)


@settings(max_examples=60, deadline=None)
@given(steps, forward_options, st.booleans())
def test_every_forward_option_then_backward_and_predict_in_any_order(history, last, input_grad):
    model = issue_model()
    pending = False                              # a training forward awaits its backward
    for kind, arg in history:
        if kind == "forward":
            training, activations, reference = arg
            with _paths(reference):
                model.forward(_X, training=training, return_activations=activations)
            pending = training
        elif kind == "backward" and pending:
            model.backward(_G, input_grad=arg)
            pending = False
        elif kind == "predict":
            np.testing.assert_array_equal(model.predict(_X), _copy(model).predict(_X))
            pending = False                      # predict runs forward in eval mode
    fresh = _copy(model)
    for p in model.parameters():
        p.grad[...] = 0
    _, activations, reference = last
    results = []
    for m in (model, fresh):
        with _paths(reference):
            out = m.forward(_X, training=True, return_activations=activations)
            dx = m.backward(_G, input_grad=input_grad)
        results.append((out[0] if activations else out, dx, [p.grad for p in m.parameters()]))
    (out, dx, grads), (out2, dx2, grads2) = results
    np.testing.assert_array_equal(out, out2)
    if input_grad:
        np.testing.assert_array_equal(dx, dx2)
    else:
        assert dx is None and dx2 is None
    for g, g2 in zip(grads, grads2):
        np.testing.assert_array_equal(g, g2)
    np.testing.assert_array_equal(model.predict(_X), fresh.predict(_X))


def test_the_issue_sequence_training_step_then_activations_then_backward():
    model = issue_model()
    model.forward(_X, training=True)
    model.backward(np.ones((2, 3), np.float32))
    out, acts = model.forward(_X, training=True, return_activations=True)
    assert [a.shape for a in acts] == [(2, 4, 8, 8), (2, 4, 8, 8), (2, 4, 4, 4), (2, 64), (2, 3)]
    np.testing.assert_array_equal(acts[1], np.maximum(acts[0], 0))        # layer 1's own output, as written
    assert model.backward(_G).shape == _X.shape


def test_the_running_order_is_recorded_by_forward_and_replayed():
    model = issue_model()
    model.forward(_X, training=True)
    assert model._order == [0, 2, 1, 3, 4]                # the ReLU after the MaxPool2D (fast path)
    model.forward(_X, training=True, return_activations=True)
    assert model._order == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="return_activations"):
        model.forward(_X, return_activations="yes")


def test_branches_are_chains_and_slices_of_a_model_are_sequentials():
    res = L.Residual([L.Conv2D(2, 2, 3, padding=1), L.ReLU()])
    assert type(res.block) is L.Chain and res.shortcut is None
    given_model = mc.Sequential([L.Conv2D(2, 2, 1)])
    assert L.Residual([L.ReLU()], given_model).shortcut is given_model
    model = mc.Sequential([L.Conv2D(2, 2, 1), res, L.ReLU()])
    assert type(model[1:]) is mc.Sequential and type(res.block[:1]) is L.Chain
    assert isinstance(model, L.Chain)
    assert list(res.params) == ["block.0.W", "block.0.b"]
    assert "  block:" in model.summary((2, 5, 5))
    with pytest.raises(TypeError, match="block must be a list of layers"):
        L.Residual("relu")


# ---------------------------------------------------------------------------
# One layer object in two places of a model: refused where the model is built
# ---------------------------------------------------------------------------
def _shared_layer_cases():
    d, r, c = L.Dense(4, 4), L.ReLU(), L.Conv2D(2, 2, 1)
    return [
        (lambda: mc.Sequential([d, L.ReLU(), d]), r"layers\[0\] and layers\[2\] are the same Dense"),
        (lambda: mc.Sequential([L.Dense(4, 4), r, L.Dense(4, 4), r]),                 # no parameters: refused too
         r"layers\[1\] and layers\[3\] are the same ReLU"),
        (lambda: mc.Sequential([d, L.Residual([L.ReLU(), d])]), r"layers\[0\] and layers\[1\]\.block\[1\]"),
        (lambda: mc.Sequential([L.Residual([d]), L.Concat([[L.ReLU()], [d]])]),
         r"layers\[0\]\.block\[0\] and layers\[1\]\.branch1\[0\]"),
        (lambda: L.Residual([c], [c]), r"block\[0\] and shortcut\[0\] are the same Conv2D"),
        (lambda: L.Residual([c, L.Residual([c])]), r"block: layers\[0\] and layers\[1\]\.block\[0\]"),
        (lambda: L.Concat([[c], [L.ReLU(), c]]), r"branch0\[0\] and branch1\[1\] are the same Conv2D"),
        (lambda: mc.Sequential([d]).append(d), r"layers\[0\] and layers\[1\] \(appended\) are the same Dense"),
        (lambda: mc.Sequential([L.Residual([d])]).append(d), r"layers\[0\]\.block\[0\] and layers\[1\] \(appended\)"),
    ]


@pytest.mark.parametrize("case", range(len(_shared_layer_cases())))
def test_one_layer_in_two_places_is_refused_when_the_model_is_built(case):
    build, where = _shared_layer_cases()[case]
    with pytest.raises(ValueError, match=where + r".*keeps one cache.*without parameters such as ReLU too"):
        build()


def test_a_model_cannot_be_appended_inside_itself():
    model = mc.Sequential([])
    with pytest.raises(ValueError, match=r"layers\[0\] \(appended\)\.block is the model itself"):
        model.append(L.Residual(model))
    assert len(model) == 0


def test_layers_shared_by_two_models_or_by_slices_are_fine():
    """Sharing across models is transfer learning (``Sequential([*body, head])``), and a
    slice shares its model's layers: only one model's own places must differ."""
    body = mc.Sequential([L.Dense(4, 4), L.ReLU()])
    mc.Sequential([*body, L.Dense(4, 2)])
    body[:1].append(L.Dense(4, 3))
    mc.Sequential([L.Concat([body[:1], [L.Dense(4, 2)]])])


def test_a_branched_layer_written_on_the_base_gets_params_config_and_summary():
    class Sum(L.BranchedLayer):          # y = left(x) + right(x): only its maths and branches written
        def __init__(self, left, right):
            super().__init__()
            self.left, self.right = L.container.as_chain(left, "left"), L.container.as_chain(right, "right")
            self._collect_params()

        def branches(self):
            return [("left", self.left), ("right", self.right)]

        def _output_shape(self, input_shape):
            return self.left.output_shape(input_shape)

        def _forward(self, x, training):
            return self.left.forward(x, training=training) + self.right.forward(x, training=training)

        def _backward(self, grad_out, input_grad):
            return self.left.backward(grad_out) + self.right.backward(grad_out)

    layer = Sum([L.Dense(3, 2, dtype=F64)], [L.Dense(3, 2, dtype=F64), L.Tanh()])
    assert sorted(layer.params) == ["left.0.W", "left.0.b", "right.0.W", "right.0.b"]
    again = Sum.from_config(layer.config())
    assert again.config() == layer.config() and len(again.sublayers()) == 3
    assert mc.gradcheck.check_layer(layer, np.random.default_rng(0).standard_normal((4, 3)))["input"] < 1e-6
    layer.astype(np.float32)
    assert all(p.data.dtype == np.float32 for p in layer.params.values())


# ---------------------------------------------------------------------------
# The checked entry points, and layers written the older way
# ---------------------------------------------------------------------------
def test_library_layers_write_only_their_maths():
    for cls in L.REGISTRY.values():
        assert "forward" not in vars(cls) and "backward" not in vars(cls), cls
        assert cls.forward is L.Layer.forward and cls.backward is L.Layer.backward
        assert cls._forward is not L.Layer._forward and cls._backward is not L.Layer._backward, cls
        assert "input_grad" in inspect.signature(cls._backward).parameters, cls


class OldScale(L.Layer):
    """A user's layer written the older way: its maths in forward and backward, no input_grad."""
    input_ndim = 2

    def __init__(self):
        super().__init__()
        self.params["s"] = mc.Parameter(np.array([2.0]))

    def forward(self, x, training=False):
        if training:
            self.cache = x
        return x * self.params["s"].data

    def backward(self, grad_out):
        self.params["s"].accumulate(np.array([np.sum(grad_out * self.cache)]))
        return grad_out * self.params["s"].data


def test_a_layer_written_the_older_way_keeps_the_checks():
    assert OldScale.forward is L.Layer.forward and "forward" not in vars(OldScale)
    layer = OldScale()
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        layer.forward(np.ones((1, 2, 3)))
    with pytest.raises(RuntimeError, match="needs a preceding forward"):
        layer.backward(np.ones((1, 3)))
    x = np.arange(3.0)[None]
    layer.forward(x, training=True)
    with pytest.raises(ValueError, match="grad_out must have the forward output's shape"):
        layer.backward(np.ones((1, 4)))
    layer.forward(x, training=True)
    assert layer.backward(np.ones((1, 3)), input_grad=False) is None
    assert layer.params["s"].grad == pytest.approx([3.0])
    with pytest.raises(RuntimeError, match="already called once"):
        layer.backward(np.ones((1, 3)))
    assert mc.gradcheck.check_layer(OldScale(), np.arange(1.0, 4.0)[None])["input"] < 1e-6


def test_overriding_a_library_layer_s_backward_wraps_the_checked_entry_point():
    class Doubled(L.ReLU):
        def backward(self, grad_out, input_grad=True):
            return 2 * super().backward(grad_out, input_grad)

    layer = Doubled()
    x = np.array([[-1.0, 2.0]])
    layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 2))), [[0.0, 2.0]])
    with pytest.raises(RuntimeError, match="already called once"):
        layer.backward(np.ones((1, 2)))


def test_the_registry_holds_the_library_layers_and_no_class_of_ones_own():
    """REGISTRY fills itself as the library's layer classes are defined (not its bases);
    a class of one's own, even one named after a library layer, never enters it, so it
    cannot change what Sequential.load builds."""
    assert len(L.REGISTRY) == 31 and all(cls.__module__.startswith("minicnn.layers.") for cls in L.REGISTRY.values())
    assert not {"Layer", "Window2D", "BranchedLayer", "_Conv", "_Pool2D", "_OutputCached", "_AlongAxis"} & set(L.REGISTRY)
    assert L.__all__[:5] == ["Layer", "Chain", "BranchedLayer", "build_layer", "REGISTRY"]
    assert sorted(L.__all__[5:]) == sorted(L.REGISTRY)
    library = dict(L.REGISTRY)

    class Conv2D(L.Conv2D):                            # a user's layer named like the library's
        def _forward(self, x, training):
            return 2 * super()._forward(x, training)

    class MyLayer(L.Layer):
        def forward(self, x, training=False):
            return x

    assert L.REGISTRY == library
    item = {"class": "Conv2D", "config": L.Conv2D(1, 2, 3).config()}
    assert type(L.build_layer(item)) is L.Conv2D
    with pytest.raises(ValueError, match="unknown layer class 'MyLayer'"):
        L.build_layer({"class": "MyLayer", "config": {}})


def test_losses_write_only_their_maths_and_the_base_checks():
    """The losses follow the layers' rule: ``Loss.forward`` is the checked entry point and
    each library loss defines only ``_forward``; a loss written the older way (its maths in
    ``forward``) is still checked."""
    from minicnn import losses
    for cls in (losses.CrossEntropy, losses.MSE):
        assert "forward" not in cls.__dict__ and "_forward" in cls.__dict__

    class OldStyleL1(losses.Loss):
        check_inputs = staticmethod(losses.check_pred_and_target)

        def forward(self, pred, target):
            diff = pred - target
            self.grad = np.sign(diff) / diff.size
            return np.abs(diff).mean()

    loss = OldStyleL1()
    pred = np.array([[1.0, -2.0]], np.float32)
    assert loss(pred, np.zeros((1, 2), np.float32)) == 1.5
    assert loss.backward().dtype == np.float32
    with pytest.raises((ValueError, TypeError), match="pred|target"):
        loss(pred, np.zeros((3, 2), np.float32))
    with pytest.raises(RuntimeError, match="preceding forward"):
        loss.backward()
