"""minicnn.exercises: the skeletons, the checker, its diagnoses and `train`.

- every skeleton is "not done yet", minicnn's own answers pass, every common mistake of
  minicnn/exercises/mistakes.py fails with its diagnosis, and so do the mistakes the issue
  names, written by hand as a learner would;
- a correct set written with loops (tests/exercise_answers_loops.py) passes and trains
  MNIST through `train --quick` to minicnn's own accuracy;
- a file that does not import, a missing function, a wrong signature or return: one sentence.
"""
import configparser
import inspect
import os
import re
import subprocess
import sys
import textwrap

import exercise_answers_loops as loops
import numpy as np
import pytest

from minicnn.exercises import EXERCISES, check_file, check_function, glue, mistakes, reference, signature
from minicnn.exercises.__main__ import main
from minicnn.exercises.catalog import BY_NAME
from minicnn.exercises.checker import FAIL, NOT_DONE, load_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOOPS = os.path.join(HERE, "exercise_answers_loops.py")


def data_present():
    root = os.environ.get("MINICNN_DATA")
    return bool(root) and os.path.isdir(os.path.join(root, "mnist"))


def write(folder, name, source):
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def run(path, *args):
    """check_file's exit code and printed text."""
    lines = []
    code, _ = check_file(path, *args, write=lines.append)
    return code, "\n".join(lines)


@pytest.fixture(scope="module")
def skeletons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("skeletons")
    glue.write_skeletons(str(folder), write=lambda line: None)
    return folder


# ---------------------------------------------------------------------------
# The skeletons
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_skeleton_is_not_done_yet(exercise, skeletons):
    path = str(skeletons / exercise.file)
    code, text = run(path)
    assert code == 0, text
    assert f"{NOT_DONE} ({exercise.name} raises NotImplementedError)" in text
    assert "0 passed, 0 failed, 1 not done yet" in text


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_skeleton_has_the_signature_shapes_and_the_tracks_step(exercise, skeletons):
    fn = getattr(load_file(str(skeletons / exercise.file)), exercise.name)
    assert tuple(inspect.signature(fn).parameters) == exercise.args
    doc = inspect.getdoc(fn)
    assert ("(N, " in doc or "shape" in doc) and "Hint" in doc
    with open(skeletons / exercise.file, encoding="utf-8") as f:
        source = f.read()
    assert "raise NotImplementedError" in source and f"check {exercise.file}" in source
    tutorial = sorted(os.listdir(os.path.join(ROOT, "examples", "tutorial")))
    for step in exercise.steps:             # each step the exercise names is pointed at in its file
        name = next(n for n in tutorial if n.startswith(f"{step:02d}_"))
        assert name in source or name[:-3] in source or f"{step:02d}_" in source, (exercise.name, name)


def test_the_exercises_are_in_learning_order_and_keep_the_issues_signatures():
    assert [e.file for e in EXERCISES] == sorted(e.file for e in EXERCISES)
    order = [e.name for e in EXERCISES]
    assert order[0] == "conv2d_forward" and order.index("im2col") < order.index("conv2d_forward_im2col")
    for name in order:                     # every backward after its forward
        if name.endswith("_backward"):
            assert order.index(name.replace("_backward", "_forward")) < order.index(name)
    assert signature(BY_NAME["conv2d_forward"]) == "conv2d_forward(x, W, b, stride, padding) -> out"
    assert signature(BY_NAME["im2col"]) == "im2col(x, kh, kw, stride, padding) -> cols"
    assert signature(BY_NAME["conv2d_backward"]) == "conv2d_backward(dout, x, W, stride, padding) -> dx, dW, db"
    assert signature(BY_NAME["max_pool2d_forward"]).startswith("max_pool2d_forward(x, k, stride)")
    assert signature(BY_NAME["max_pool2d_backward"]).startswith("max_pool2d_backward(dout, x, k, stride)")
    assert signature(BY_NAME["softmax_cross_entropy"]) == "softmax_cross_entropy(logits, labels) -> loss, dlogits"
    assert signature(BY_NAME["batchnorm_forward"]).startswith("batchnorm_forward(x, gamma, beta, eps)")
    assert signature(BY_NAME["batchnorm_backward"]) == "batchnorm_backward(dout, x, gamma, eps) -> dx, dgamma, dbeta"


def test_new_never_overwrites_a_learners_file(tmp_path):
    mine = write(tmp_path, EXERCISES[0].file, "def conv2d_forward(x, W, b, stride, padding):\n    return 1\n")
    lines = []
    glue.write_skeletons(str(tmp_path), write=lines.append)
    with open(mine, encoding="utf-8") as f:
        assert f.read().endswith("return 1\n")
    assert f"kept {mine}: it is already there" in "\n".join(lines)
    assert all((tmp_path / e.file).exists() for e in EXERCISES)


def test_a_file_where_a_folder_belongs_and_back_is_one_sentence(tmp_path, capsys):
    path = write(tmp_path, "mine.py", "def relu_forward(x):\n    return x\n")
    assert main(["new", path]) == 1
    assert main(["check", str(tmp_path)]) == 1
    assert main(["train", path]) == 1
    said = capsys.readouterr().out
    assert f"{path} is a file: give a folder to write the skeletons into" in said
    assert f"{tmp_path} is a folder: check one of its files, such as {tmp_path / EXERCISES[0].file}" in said
    assert f"{path} is not a folder: train takes the folder of your files" in said


def test_the_skeletons_are_package_data():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    assert "skeletons/*.py" in cfg["options.package_data"]["minicnn.exercises"]
    assert sorted(n for n in os.listdir(glue.SKELETONS) if n.endswith(".py")) == [e.file for e in EXERCISES]


def test_the_track_links_each_exercise_from_its_steps_and_the_readme_has_the_commands():
    tutorial = os.path.join(ROOT, "examples", "tutorial")
    with open(os.path.join(tutorial, "README.md"), encoding="utf-8") as f:
        rows = {line[4:6]: line for line in f.read().splitlines() if line.startswith("| [`")}
    for exercise in EXERCISES:
        link = f"../../minicnn/exercises/skeletons/{exercise.file}"
        assert os.path.isfile(os.path.join(tutorial, link))
        for step in exercise.steps:
            assert f"[`{exercise.name}`]({link})" in rows[f"{step:02d}"], (exercise.name, step)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for command in ("new my_cnn", "check my_cnn/ex01_conv2d_forward.py", "train my_cnn"):
        assert f"python -m minicnn.exercises {command}" in readme


# ---------------------------------------------------------------------------
# Right answers pass
# ---------------------------------------------------------------------------
def test_minicnns_own_answers_pass(tmp_path):
    path = write(tmp_path, "minicnns.py", "from minicnn.exercises.reference import *\n")
    code, text = run(path)
    assert code == 0, text
    assert f"{len(EXERCISES)} passed, 0 failed, 0 not done yet" in text


def test_a_correct_set_written_with_loops_passes():
    code, text = run(LOOPS)
    assert code == 0, text
    assert f"{len(EXERCISES)} passed, 0 failed, 0 not done yet" in text
    assert "gradient check against your conv2d_forward (exercise_answers_loops.py)" in text


# ---------------------------------------------------------------------------
# Wrong answers fail, with their diagnosis
# ---------------------------------------------------------------------------
def with_wrong(exercise, output, wrong):
    """minicnn's answer to ``exercise`` with ``output`` computed by ``wrong``."""
    right = getattr(reference, exercise.name)

    def answer(*args):
        outputs = right(*args)
        if len(exercise.returns) == 1:
            return wrong(*args)
        outputs = list(outputs)
        outputs[exercise.returns.index(output)] = wrong(*args)
        return tuple(outputs)
    return answer


MISTAKES = [(name, output, says, wrong) for name, listed in mistakes.MISTAKES.items()
            for output, says, wrong in listed]


@pytest.mark.parametrize("name, output, says, wrong", MISTAKES, ids=[m[3].__name__ for m in MISTAKES])
def test_each_common_mistake_fails_with_its_diagnosis(name, output, says, wrong):
    exercise = BY_NAME[name]
    result = check_function(exercise, with_wrong(exercise, output, wrong), examples=10)
    assert result.status == FAIL, result.text
    assert says in result.diagnoses, result.text
    assert f"diagnosis: {says}" in result.text


def test_every_exercise_has_a_diagnosis():
    assert {e.name for e in EXERCISES} == set(mistakes.MISTAKES)
    assert all(mistakes.MISTAKES[e.name] for e in EXERCISES)


# The mistakes the issue names, written by hand in a learner's own style (loops over the
# kernel offsets, as in exercise_answers_loops.py), each with the words its diagnosis says.
def conv_backward_kernel_not_flipped(dout, x, W, stride, padding):
    return loops.conv2d_backward(dout, x, W[:, :, ::-1, ::-1], stride, padding)[0], \
        loops.conv2d_backward(dout, x, W, stride, padding)[1], dout.sum(axis=(0, 2, 3))


def conv_backward_db_per_sample(dout, x, W, stride, padding):
    dx, dW, _ = loops.conv2d_backward(dout, x, W, stride, padding)
    return dx, dW, dout.sum(axis=(2, 3))


def conv_backward_not_cropped(dout, x, W, stride, padding):
    _, dW, db = loops.conv2d_backward(dout, x, W, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return loops.conv2d_backward(dout, xp, W, stride, 0)[0], dW, db


def max_pool_backward_every_maximum(dout, x, k, stride):
    dx = np.zeros_like(x)
    top = loops.max_pool2d_forward(x, k, stride)
    oh, ow = dout.shape[2:]
    for i in range(k):
        for j in range(k):
            seen = loops._tap(x, i, j, stride, oh, ow)
            loops._tap(dx, i, j, stride, oh, ow)[...] += dout * (seen == top)
    return dx


def softmax_without_the_max(logits, labels):
    e = np.exp(logits)
    p = e / e.sum(axis=1, keepdims=True)
    n = len(logits)
    loss = -np.log(p[np.arange(n), labels]).mean()
    p[np.arange(n), labels] -= 1
    return loss, p / n


def batchnorm_backward_without_the_mean(dout, x, gamma, eps):
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    dx_hat = dout * gamma.reshape(1, -1, 1, 1)
    dvar = (dx_hat * (x - mu)).sum(axis=(0, 2, 3), keepdims=True) * -0.5 * (var + eps) ** -1.5
    dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / (x.size // x.shape[1])     # no dmu term
    return dx, (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def avg_pool_sum(x, k, stride):
    return loops.avg_pool2d_forward(x, k, stride) * k * k


def relu_backward_with_ge(dout, x):
    return np.where(x >= 0, dout, 0).astype(dout.dtype)


def relu_backward_with_the_output(dout, x):
    return dout * loops.relu_forward(x)


def dense_backward_dw_transposed(dout, x, W):
    return dout @ W.T, dout.T @ x, dout.sum(axis=0)


def sgd_plus(w, dw, v, lr, momentum):
    v = momentum * v + dw
    return w + lr * v, v


def sgd_w_before_v(w, dw, v, lr, momentum):
    return w - lr * v, momentum * v + dw


BY_HAND = [
    ("conv2d_backward", conv_backward_kernel_not_flipped, "kernel not flipped"),
    ("conv2d_backward", conv_backward_db_per_sample, "db is not summed over the batch"),
    ("conv2d_backward", conv_backward_not_cropped, "padding rows were not cropped from dx"),
    ("max_pool2d_backward", max_pool_backward_every_maximum, "ties go to every maximum instead of the first"),
    ("softmax_cross_entropy", softmax_without_the_max, "softmax overflows for logits of 1000"),
    ("batchnorm_backward", batchnorm_backward_without_the_mean, "ignores the gradient through the mean"),
    ("avg_pool2d_forward", avg_pool_sum, "avg pool is not divided"),
    ("relu_backward", relu_backward_with_ge, "uses x >= 0"),
    ("relu_backward", relu_backward_with_the_output, "uses the output"),
    ("dense_backward", dense_backward_dw_transposed, "dW is transposed"),
    ("sgd_momentum_step", sgd_plus, "goes uphill"),
    ("sgd_momentum_step", sgd_w_before_v, "moved with the old velocity"),
]


@pytest.mark.parametrize("name, answer, words", BY_HAND, ids=[b[1].__name__ for b in BY_HAND])
def test_the_issues_mistakes_written_by_hand_are_diagnosed(name, answer, words):
    result = check_function(BY_NAME[name], answer, examples=10)
    assert result.status == FAIL, result.text
    assert any(words in d for d in result.diagnoses), result.text
    assert "Traceback" not in result.text


def test_a_wrong_forward_and_a_wrong_backward_are_told_apart(tmp_path):
    """Flipped kernels in the forward, and a backward that is the exact gradient of that
    forward: the backward's check blames the forward. A right forward with a wrong backward:
    the backward is blamed."""
    consistent = write(tmp_path, "flipped.py", """
        import numpy as np
        from exercise_answers_loops import conv2d_forward as right_forward, conv2d_backward as right_backward

        def conv2d_forward(x, W, b, stride, padding):
            return right_forward(x, W[:, :, ::-1, ::-1], b, stride, padding)

        def conv2d_backward(dout, x, W, stride, padding):
            dx, dW, db = right_backward(dout, x, W[:, :, ::-1, ::-1], stride, padding)
            return dx, dW[:, :, ::-1, ::-1], db
    """)
    sys.path.insert(0, HERE)
    try:
        _, text = run(consistent, "conv2d_backward")
    finally:
        sys.path.remove(HERE)
    assert "your backward is the gradient of your conv2d_forward, which is wrong: fix the forward first" in text

    backward_wrong = write(tmp_path, "ex11_conv2d_backward.py", """
        from minicnn.exercises.reference import conv2d_forward, conv2d_backward as right

        def conv2d_backward(dout, x, W, stride, padding):
            dx, dW, db = right(dout, x, W, stride, padding)
            return 2 * dx, dW, db
    """)
    _, text = run(backward_wrong)
    assert "gradient check against your conv2d_forward (ex11_conv2d_backward.py)" in text
    assert "your backward is not the gradient of your conv2d_forward" in text and "fix the forward" not in text


def test_the_property_test_shrinks_a_failure_the_fixed_cases_miss(tmp_path):
    """Strides beyond the window (never in the fixed cases) handled as stride = k: Hypothesis
    finds it and shrinks it to one small input, printed beside minicnn's output."""
    path = write(tmp_path, "pool.py", """
        from minicnn.exercises.reference import max_pool2d_forward as right

        def max_pool2d_forward(x, k, stride):
            return right(x, k, min(k, stride))
    """)
    code, text = run(path)
    assert code == 1 and "fixed cases:" in text and "WRONG" not in text.split("property test")[0]
    assert re.search(r"property test: WRONG on this smallest input \(shrunk by Hypothesis\): "
                     r"x \(1, 1, [12], [12]\), k 1, stride 2\n", text), text
    assert "yours" in text and "minicnn's" in text and "Falsifying" not in text


# ---------------------------------------------------------------------------
# One clear sentence, no traceback
# ---------------------------------------------------------------------------
SENTENCES = [
    ("def conv2d_forward(x, W, b, stride, padding)\n    return x\n", None,
     "bad.py does not import: syntax error on line 1"),
    ("import numpy as np\nnp.zeros(3)[5]\n", None,
     "does not import: running it raised IndexError: index 5 is out of bounds for axis 0 with size 3 (bad.py, line 2)"),
    ("def relu_forward(x):\n    return x\n", "conv2d_backward",
     "bad.py defines no function conv2d_backward: write `def conv2d_backward(dout, x, W, stride, padding):`"),
    ("def relu_forward(x):\n    return x[..., :1]\n", None, "out has shape (2, 3, 4, 1); it should be (2, 3, 4, 4)"),
    ("def dense_forward(x, W):\n    return x @ W\n", None,
     "dense_forward(x, W) has the wrong signature: the checker calls it as dense_forward(x, W, b)"),
    ("def relu_backward(dout, x):\n    return list(dout)\n", None,
     "relu_backward returned a list of 2 values: it returns one array, dx"),
    ("def relu_backward(dout, x):\n    return dout.tolist()\n", None,
     "relu_backward returned a list for dx: it must be a NumPy array"),
    ("def dense_backward(dout, x, W):\n    return dout @ W.T, x.T @ dout\n", None,
     "dense_backward must return 3 values (dx, dW, db), it returned 2 values"),
    ("import numpy as np\ndef relu_forward(x):\n    return np.maximum(x, 0).astype(np.float64)\n", None,
     "out is float64 for float32 input: keep the input's dtype"),
    ("def relu_forward(x):\n    return x[0, 0, 0, 99]\n", None, "relu_forward raised IndexError: index 99 is out of "
                                                                   "bounds for axis 3 with size 4 (bad.py, line 2)"),
    ("def relu_forward(x):\n    pass\n", None, "relu_forward returned a NoneType for out: it must be a NumPy array"),
]


@pytest.mark.parametrize("source, only, sentence", SENTENCES, ids=[s[2][:30] for s in SENTENCES])
def test_a_broken_answer_gets_one_clear_sentence(tmp_path, source, only, sentence):
    code, text = run(write(tmp_path, "bad.py", source), only)
    assert code == 1
    assert sentence in text, text
    assert "Traceback" not in text and 'File "' not in text


def test_an_answer_done_for_some_cases_only_fails_and_says_where(tmp_path):
    path = write(tmp_path, "partial.py", """
        from exercise_answers_loops import conv2d_backward as right

        def conv2d_backward(dout, x, W, stride, padding):
            if stride != 1:
                raise NotImplementedError
            return right(dout, x, W, stride, padding)
    """)
    code, text = run(path)
    assert code == 1 and f"{NOT_DONE} (" not in text and "1 failed" in text
    assert "stride 2, padding 1: conv2d_backward raised NotImplementedError  WRONG" in text


def test_the_cli_exits_0_when_all_done_pass_and_1_otherwise(tmp_path, skeletons):
    """Through `python -m`, with warnings as errors: nothing but the checker's own lines."""
    bad = write(tmp_path, "bad.py", "def relu_forward(x):\n    return -x\n")
    command = [sys.executable, "-W", "error", "-m", "minicnn.exercises", "check"]
    ok = subprocess.run(command + [str(skeletons / EXERCISES[0].file)], capture_output=True, text=True, timeout=120,
                        cwd=tmp_path)
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    wrong = subprocess.run(command + [bad], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert wrong.returncode == 1 and wrong.stderr == "", wrong.stderr
    assert "relu_forward" in wrong.stdout and "FAIL" in wrong.stdout
    assert sorted(os.listdir(tmp_path)) == ["bad.py"]          # no .hypothesis left in the learner's folder


def test_without_hypothesis_the_cli_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "hypothesis", None)          # import hypothesis: ImportError
    assert main(["check", write(tmp_path, "mine.py", "def relu_forward(x):\n    return x\n")]) == 2
    assert 'the checker needs Hypothesis: pip install "minicnn[exercises]"' in capsys.readouterr().out


def test_a_file_may_import_its_neighbours(tmp_path):
    with open(LOOPS, encoding="utf-8") as f:      # im2col and its helpers, written in ex02_im2col.py itself
        (tmp_path / "ex02_im2col.py").write_text(f.read())
    write(tmp_path, "ex03_conv2d_forward_im2col.py", """
        from ex02_im2col import im2col

        def conv2d_forward_im2col(x, W, b, stride, padding):
            n, _, h, w = x.shape
            o, _, kh, kw = W.shape
            oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
            y = im2col(x, kh, kw, stride, padding) @ W.reshape(o, -1).T + b
            return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    """)
    code, text = run(str(tmp_path / "ex03_conv2d_forward_im2col.py"))
    assert code == 0, text
    assert "im2col: imported from ex02_im2col.py, checked there" in text
    assert "ex03_conv2d_forward_im2col.py: 1 passed, 0 failed" in text


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------
def test_train_refuses_while_a_function_it_needs_fails(tmp_path):
    write(tmp_path, "mine.py", "def relu_backward(dout, x):\n    return dout\n")
    lines = []
    assert glue.train(str(tmp_path), quick=True, write=lines.append) is None
    text = "\n".join(lines)
    assert "train refuses: your relu_backward does not pass its checks yet" in text
    assert "relu backward passes dout through unchanged" in text


def test_the_full_cnn_with_the_learners_functions_takes_minicnns_steps():
    """Both sizes of the CNN: two SGD steps with every function from the loop-written set end
    at minicnn's own weights, to float32 rounding (same seed, same initial weights)."""
    import minicnn as mc
    fns = {"conv_forward": loops.conv2d_forward_im2col, **{name: getattr(loops, name) for name in glue.USED
                                                           if not name.startswith("conv2d_forward")}}
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 1, 28, 28)).astype(np.float32), np.arange(16) % 10
    for quick in (False, True):
        weights = []
        for functions in (fns, {}):
            mc.manual_seed(0)
            model, loss, opt = glue.build(functions, quick)
            model.fit(x, y, loss, opt, epochs=1, batch_size=8, shuffle=False, progress=False)
            weights.append(model.state_dict())
        assert any(type(layer).__name__.startswith("Your") for layer in glue.build(fns, quick)[0])
        for key, mine in weights[0].items():
            np.testing.assert_allclose(mine, weights[1][key], rtol=1e-3, atol=1e-5, err_msg=key)


@pytest.mark.skipif(not data_present(), reason="MNIST is not in $MINICNN_DATA/mnist")
def test_train_quick_with_loops_reaches_minicnns_own_accuracy(tmp_path, skeletons, capsys):
    """The loop-written set (vectorised over the batch, loops over the kernel offsets) trains
    the quick CNN to the accuracy of minicnn's own layers on the same 5,000 images, within a
    point, and both reach 90% on the 10,000 test images."""
    folder = tmp_path / "mine"
    folder.mkdir()
    with open(LOOPS, encoding="utf-8") as src:
        (folder / "answers.py").write_text(src.read())
    assert main(["train", str(folder), "--quick"]) == 0
    text = capsys.readouterr().out
    assert "with 10 of your functions" in text
    yours = float(text.split("test accuracy ")[1].split()[0])
    theirs = glue.train(str(skeletons), quick=True, write=lambda line: None)
    assert yours >= 0.90 and theirs >= 0.90
    assert abs(yours - theirs) <= 0.01
