"""fit / evaluate / predict, callbacks, checkpoints and resume, divergence, real MNIST."""
import os
import warnings

import numpy as np
import pytest

import minicnn as mc
from minicnn import layers as L
from minicnn.training import BatchLossHistory, EarlyStopping, History, LambdaCallback, ModelCheckpoint, TrainingDiverged


def blobs(n=120, seed=0):
    """Three well-separated Gaussian blobs in 2-D, as (N, 1, 2, 2) 'images'."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], np.float32)
    x = centres[y] + 0.3 * rng.standard_normal((n, 4)).astype(np.float32)
    return x.reshape(n, 1, 2, 2), y


def tiny_model(seed=0):
    mc.manual_seed(seed)
    return mc.Sequential([L.Conv2D(1, 16, 2), L.ReLU(), L.Flatten(), L.Dropout(0.2), L.Dense(16, 3)])


def train(model, epochs=3, **kw):
    x, y = blobs()
    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=epochs, batch_size=16, progress=False, **kw)


def test_fit_learns_and_records_history():
    model = tiny_model()
    x, y = blobs(seed=1)
    hist = train(model, epochs=5, validation_data=(x, y))
    h = hist.history
    assert set(h) == {"loss", "accuracy", "lr", "seconds", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in h.values())
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] >= 0.95
    assert model.evaluate(x, y, mc.losses.CrossEntropy()) == pytest.approx(
        {"loss": h["val_loss"][-1], "accuracy": h["val_accuracy"][-1]})


def test_history_records_every_batch_at_its_place_on_the_epoch_axis():
    x, y = blobs(n=120)                     # batches of 16: 7 full ones and one of 8 per epoch
    seen = BatchLossHistory()
    hist = train(tiny_model(), epochs=3, callbacks=[seen])
    b = hist.batches
    assert set(b) == {"epoch", "loss", "accuracy"} and all(len(v) == 3 * 8 for v in b.values())
    np.testing.assert_allclose(b["epoch"], np.arange(1, 25) / 8)      # 1.0 ends the first epoch
    assert b["loss"] == seen.losses and b["accuracy"] == seen.accuracies
    # the per-epoch dict stays Keras's, one entry per epoch
    assert set(hist.history) == {"loss", "accuracy", "lr", "seconds"} and hist.epochs == 3
    # sample-weighted means of an epoch's batches give its per-epoch numbers
    sizes = np.array([16] * 7 + [8])
    for e in range(3):
        assert np.average(b["loss"][8 * e:8 * e + 8], weights=sizes) == pytest.approx(hist.history["loss"][e])
    # as_dict() goes through JSON and back into an equal History
    import json
    again = History(json.loads(json.dumps(hist.as_dict())))
    assert again.history == hist.history and again.batches == hist.batches


def test_history_records_no_batch_accuracy_for_a_regression():
    rng = np.random.default_rng(0)
    model = mc.Sequential([L.Dense(3, 1)])
    hist = model.fit(rng.random((10, 3)), rng.random((10, 1)), mc.losses.MSE(),
                     mc.optim.SGD(model.parameters(), lr=0.1), epochs=2, batch_size=4, progress=False)
    assert set(hist.batches) == {"epoch", "loss"} and len(hist.batches["loss"]) == 6


def test_fit_prints_one_line_per_epoch_unless_quiet(capsys):
    x, y = blobs()
    model = tiny_model()
    model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1), epochs=2,
              batch_size=32)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "accuracy" in lines[1]
    train(model, epochs=1)
    assert capsys.readouterr().out == ""


def test_predict_is_batched_and_in_order():
    model = tiny_model()
    x, _ = blobs(n=50)
    full = model.forward(x)
    np.testing.assert_allclose(model.predict(x, batch_size=7), full, rtol=1e-6)
    assert model.predict(x[:1], batch_size=7).shape == (1, 3)


def test_evaluate_weights_batches_by_size():
    model = tiny_model()
    x, y = blobs(n=50)
    loss = mc.losses.CrossEntropy()
    whole = loss.forward(model.forward(x), y)
    assert model.evaluate(x, y, loss, batch_size=7)["loss"] == pytest.approx(whole, rel=1e-5)


def test_callbacks_see_every_batch_and_epoch():
    seen = []
    batches = BatchLossHistory()
    cb = LambdaCallback(on_epoch_end=lambda e, logs: seen.append((e, round(logs["loss"], 6))))
    hist = train(tiny_model(), epochs=2, callbacks=[cb, batches])
    assert [e for e, _ in seen] == [0, 1]
    assert len(batches.losses) == 2 * 8            # 120 samples, batch 16 -> 8 batches
    assert np.mean(batches.losses[:8]) == pytest.approx(hist.history["loss"][0], rel=0.1)


def test_schedules_step_per_batch_or_per_epoch():
    x, y = blobs()
    model = tiny_model()
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    hist = model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=3, batch_size=16, progress=False,
                     callbacks=[mc.optim.StepLR(opt, step_size=1, gamma=0.5)])
    assert hist.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=1, batch_size=16, progress=False,
              callbacks=[mc.optim.InverseTimeDecay(opt, decay=0.1)])
    assert opt.lr == pytest.approx(0.1 / (1 + 0.1 * 8))


def test_early_stopping_and_model_checkpoint(tmp_path):
    x, y = blobs()
    model = tiny_model()
    best = tmp_path / "best.npz"
    # nothing improves by 10, so training stops after the second epoch
    stopper = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    hist = train(model, epochs=10, callbacks=[stopper, ModelCheckpoint(best, monitor="loss")])
    assert hist.epochs == 2 and stopper.stopped_epoch == 1
    assert best.exists()
    assert mc.Sequential.load(best).architecture() == model.architecture()
    with pytest.raises(ValueError, match="val_loss"):
        train(tiny_model(), epochs=1, callbacks=[EarlyStopping()])      # no validation data


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path):
    x, y = blobs()

    def run(epochs, ckpt, resume=False, seed=0):
        model = tiny_model(seed)
        opt = mc.optim.Adam(model.parameters(), lr=0.01)
        sched = mc.optim.InverseTimeDecay(opt, decay=0.01)
        hist = model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=epochs, batch_size=16, progress=False,
                         checkpoint=ckpt, resume=resume, callbacks=[sched])
        return model, hist

    full, full_hist = run(4, tmp_path / "a.ckpt")
    run(2, tmp_path / "b.ckpt")                              # "interrupted" after 2 epochs
    mc.manual_seed(1234)                                      # whatever happened in between
    resumed, resumed_hist = run(4, tmp_path / "b.ckpt", resume=True, seed=99)
    for a, b in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert resumed_hist.history["loss"] == full_hist.history["loss"]
    # the per-batch record too: the first two epochs from the checkpoint, the rest trained again
    assert resumed_hist.batches == full_hist.batches and len(full_hist.batches["loss"]) == 4 * 8


def test_resume_refuses_a_checkpoint_whose_batch_record_is_damaged(tmp_path):
    from minicnn import io
    path = tmp_path / "run.ckpt"
    train(tiny_model(), epochs=1, checkpoint=path)
    arrays = io.load_npz(path)
    arrays["history/batches/loss"] = arrays["history/batches/loss"][:-1]     # one batch short
    io.save_npz(path, arrays)
    with pytest.raises(ValueError, match="per-batch history"):
        train(tiny_model(), epochs=2, checkpoint=path, resume=True)


def test_a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path):
    x, y = blobs()
    model = tiny_model()
    ckpt = tmp_path / "run.ckpt"
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=1, batch_size=16, progress=False, checkpoint=ckpt)
    before = ckpt.read_bytes()
    opt.lr = 1e38                                             # an exploding learning rate
    with pytest.raises(TrainingDiverged, match=r"epoch \d+, batch \d+"):
        model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=3, batch_size=16, progress=False,
                  checkpoint=ckpt)
    assert ckpt.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]


def test_an_exploding_learning_rate_is_reported_at_the_first_bad_batch():
    x, y = blobs()
    model = tiny_model()
    opt = mc.optim.SGD(model.parameters(), lr=1e38)
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 2"):
        model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=1, batch_size=16, progress=False)


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    x, y = blobs()
    ckpt = tmp_path / "run.ckpt"
    train(tiny_model(), epochs=1, checkpoint=ckpt)
    other = mc.Sequential([L.Flatten(), L.Dense(4, 3)])
    with pytest.raises(ValueError, match="architecture"):
        other.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(other.parameters(), lr=0.1), epochs=2,
                  progress=False, checkpoint=ckpt, resume=True)


@pytest.mark.parametrize("kwargs, error", [
    (dict(epochs=0), ValueError), (dict(batch_size=0), ValueError), (dict(resume=True), ValueError),
    (dict(validation_data=np.zeros(3)), TypeError), (dict(callbacks=[object()]), TypeError),
])
def test_fit_rejects_bad_arguments(kwargs, error):
    x, y = blobs()
    model = tiny_model()
    with pytest.raises(error):
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1),
                  progress=False, **kwargs)


def test_fit_rejects_mismatched_lengths_and_wrong_objects():
    x, y = blobs()
    model = tiny_model()
    opt = mc.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:-1], mc.losses.CrossEntropy(), opt, progress=False)
    with pytest.raises(TypeError, match="loss"):
        model.fit(x, y, "crossentropy", opt, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        model.fit(x, y, mc.losses.CrossEntropy(), "sgd", progress=False)


# ---------------------------------------------------------------------------
# An optimiser that does not hold the model's trainable parameters
# ---------------------------------------------------------------------------
def test_fit_refuses_an_optimiser_that_holds_none_of_the_trainable_parameters():
    """The README's new-head pattern with the optimiser made before the head: nothing would
    train (Keras refuses an optimiser built for other variables; PyTorch trains nothing)."""
    x, y = blobs()
    body = tiny_model()
    opt = mc.optim.SGD(body[:-1].parameters(), lr=0.1)        # made before the head is replaced
    body[:-1].trainable = False
    model = body[:-1].append(L.Dense(16, 3))
    head = model[-1].params["W"].data.copy()
    with pytest.raises(ValueError, match=r"optimizer holds none of the model's 51 trainable parameters "
                                         r"\(2 tensors: 4\.W, 4\.b\), so fit would train nothing.*model\.parameters\(\)"):
        model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=1, progress=False)
    np.testing.assert_array_equal(model[-1].params["W"].data, head)
    other = tiny_model(seed=1)                                   # another model's optimiser
    with pytest.raises(ValueError, match="holds none of the model's"):
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.Adam(other.parameters()), progress=False)


def test_fit_warns_when_the_optimiser_misses_some_trainable_parameters():
    x, y = blobs()
    model = tiny_model()
    opt = mc.optim.SGD(model[-1].parameters(), lr=0.1)         # the head only, the body left trainable
    with pytest.warns(UserWarning, match=r"optimizer misses 80 of the model's 131 trainable parameters "
                                         r"\(2 of 4 tensors: 0\.W, 0\.b\)") as record:
        model.fit(x, y, mc.losses.CrossEntropy(), opt, epochs=1, progress=False)
    assert len(record) == 1 and record[0].filename == __file__      # it points at the call of fit


def test_fit_is_silent_when_what_the_optimiser_misses_is_frozen():
    """Frozen parameters need no optimiser; parameter groups count as one list of parameters."""
    x, y = blobs()
    model = tiny_model()
    model[0].trainable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model[-1].parameters(), lr=0.1), progress=False)
        groups = [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[-1].parameters()}]
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(groups, lr=0.1), progress=False)
        model[0].trainable = True          # now in the optimiser's first group: still silent
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(groups, lr=0.1), progress=False)
        model.trainable = False            # nothing to train: nothing to miss (Keras trains on, too)
        model.fit(x, y, mc.losses.CrossEntropy(), mc.optim.SGD(model.parameters(), lr=0.1), progress=False)


def test_every_name_of_the_training_module_is_still_importable_from_it():
    """training.py was split into the loop, minicnn.callbacks and minicnn.checkpoints."""
    import minicnn.callbacks
    import minicnn.training
    for name in ("fit", "evaluate", "predict", "correct", "TrainingDiverged", "Callback", "CallbackList",
                 "History", "ProgressBar", "LambdaCallback", "BatchLossHistory", "ModelCheckpoint",
                 "EarlyStopping", "LearningRateScheduler"):
        assert name in minicnn.training.__all__ and hasattr(minicnn.training, name), name
        if hasattr(minicnn.callbacks, name):
            assert getattr(minicnn.training, name) is getattr(minicnn.callbacks, name)
    assert mc.callbacks.History is History


def _mnist_or_skip():
    root = os.environ.get("MINICNN_DATA")
    if not root or not os.path.isdir(os.path.join(root, "mnist")):
        pytest.skip("MINICNN_DATA does not hold mnist")
    return mc.data.load_mnist(download=False)


def test_default_cnn_reaches_97_5_percent_on_real_mnist_with_its_defaults_on_10k():
    from examples.train_mnist import DEFAULTS, build
    (x_train, y_train), (x_test, y_test) = _mnist_or_skip()
    x = x_train[:10_000, None].astype(np.float32) / 255
    epochs, batch_size, _ = DEFAULTS["cnn"]                  # 2 epochs of batches of 32: 626 steps
    mc.manual_seed(0)
    model, loss, opt, callbacks = build("cnn", total_steps=epochs * -(-10_000 // batch_size))
    model.fit(x, y_train[:10_000], loss, opt, epochs=epochs, batch_size=batch_size, progress=False,
              callbacks=callbacks)
    result = model.evaluate(x_test[:, None].astype(np.float32) / 255, y_test, loss)
    assert result["accuracy"] >= 0.975, result        # 98.0% (seeds 0 and 1)
