"""The checker: runs a learner's answer to an exercise and says whether, and how, it is wrong.

For each exercise a file defines (:func:`check_file`), :func:`check_function` runs

1. the fixed cases of :mod:`.cases`, printing each one's relative error against minicnn's
   answer, ``max|a - b| / max(|a| + |b|)`` (CS231n's measure, over the whole output, its
   denominator at least 1: see :func:`relative_error`);
2. a property test: Hypothesis draws random shapes, strides, paddings and dtypes and
   compares with minicnn's answer; a failure is shrunk to the smallest input, printed
   with both outputs side by side;
3. for a backward exercise, a numerical gradient check (float64, central differences) of
   the learner's backward against the learner's own forward, so that a wrong forward and
   a wrong backward are told apart;
4. on a wrong answer, the diagnosis: the output is compared with each common mistake of
   :mod:`.mistakes` and the one it equals is named.

A function still raising ``NotImplementedError`` is "not done yet", not a failure. A file
that does not import, a missing function, a wrong signature, a wrong return type, shape or
dtype: one sentence each, no traceback.
"""
import collections
import contextlib
import importlib.util
import inspect
import itertools
import os
import re
import sys
import sysconfig
import traceback
import warnings

import numpy as np

from .. import gradcheck
from . import reference
from .cases import FIXED, GRADIENT, RANDOM
from .catalog import BY_NAME, EXERCISES, signature
from .mistakes import MISTAKES

#: a correct answer agrees with minicnn's to this relative error (float32: rounding of sums)
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-8}
GRADIENT_TOLERANCE = 1e-5
EXAMPLES = 50                   # random cases of the property test

PASS, FAIL, NOT_DONE = "PASS", "FAIL", "not done yet"


class LearnerError(Exception):
    """Something about the learner's code, said in one sentence."""


class LearnerRaised(LearnerError):
    """The learner's function raised an exception (said in one sentence)."""


class NotDone(Exception):
    """The learner's function raised NotImplementedError."""


# ---------------------------------------------------------------------------
# Loading the learner's file
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def _importing_beside(folder):
    """Let a learner's file import its neighbours (``from ex02_im2col import im2col``), and
    forget those modules afterwards, so that a later check reads the files afresh."""
    before = set(sys.modules)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        sys.path.remove(folder)
        for name in set(sys.modules) - before:
            where = getattr(sys.modules[name], "__file__", None) or ""
            if os.path.dirname(os.path.abspath(where)) == folder:
                del sys.modules[name]


def load_file(path):
    """The learner's file as a module; a LearnerError when it is missing or does not import."""
    path = os.path.abspath(path)
    base = os.path.basename(path)
    if os.path.isdir(path):
        raise LearnerError(f"{path} is a folder: check one of its files, such as "
                           f"{os.path.join(path, EXERCISES[0].file)}")
    if not os.path.isfile(path):
        raise LearnerError(f"{path}: no such file")
    spec = importlib.util.spec_from_file_location("learner_" + re.sub(r"\W", "_", base[:-3]), path)
    module = importlib.util.module_from_spec(spec)
    with _importing_beside(os.path.dirname(path)), _quiet():
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise LearnerError(f"{base} does not import: {type(exc).__name__.lower().replace('error', ' error')} "
                               f"on line {exc.lineno}: {exc.msg}") from None
        except (Exception, SystemExit) as exc:
            raise LearnerError(f"{base} does not import: running it raised {_describe(exc)}") from None
    return module


def defined_exercises(module, path):
    """The exercises ``module`` defines, in learning order: ``[(exercise, function)]``, and the
    names it imports from another of the learner's files, ``{name: that file}`` (checked there)."""
    folder, here = os.path.dirname(os.path.abspath(path)), os.path.abspath(path)
    mine, imported = [], {}
    for exercise in EXERCISES:
        fn = getattr(module, exercise.name, None)
        if not callable(fn):
            continue
        source = os.path.abspath(getattr(getattr(fn, "__code__", None), "co_filename", here))
        if source != here and os.path.dirname(source) == folder:
            imported[exercise.name] = os.path.basename(source)
        else:
            mine.append((exercise, fn))
    return mine, imported


def learner_forward(name, module, path):
    """The learner's function ``name`` from ``module`` or, failing that, from its skeleton
    file beside ``path`` (``ex01_conv2d_forward.py``): ``(function, file)`` or ``(None, None)``."""
    fn = getattr(module, name, None)
    if callable(fn):
        return fn, os.path.basename(path)
    beside = os.path.join(os.path.dirname(os.path.abspath(path)), BY_NAME[name].file)
    if os.path.isfile(beside) and os.path.abspath(beside) != os.path.abspath(path):
        try:
            fn = getattr(load_file(beside), name, None)
        except LearnerError:
            return None, None
        if callable(fn):
            return fn, BY_NAME[name].file
    return None, None


# ---------------------------------------------------------------------------
# Calling the learner's function, and reading what it returned
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet():
    """The learner's code runs without NumPy's warnings (an overflow is judged by its result)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# code that is not the learner's (Python's, installed packages', minicnn's): an exception's
# line is looked for outside these
_NOT_THEIRS = tuple({os.path.abspath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "purelib", "platlib")}
                    | {os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep})


def _describe(exc):
    """``ValueError: message (my_conv.py, line 12)``: the learner's line, no traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_NOT_THEIRS)]
    where = f" ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


def call(exercise, fn, args):
    """fn(*args) on copies of the arrays (an answer may work in place); NotDone for
    NotImplementedError, a LearnerError for any other exception."""
    copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    try:
        with _quiet():
            return fn(*copies)
    except NotImplementedError:
        raise NotDone from None
    except Exception as exc:
        raise LearnerRaised(f"{exercise.name} raised {_describe(exc)}") from None


def read_outputs(exercise, result):
    """The returned value(s) as a list of arrays (the loss as a 0-d float64 array); a
    LearnerError when their number or type is not the exercise's."""
    names = exercise.returns
    if len(names) == 1:
        if isinstance(result, (tuple, list)) and len(result) and all(isinstance(r, np.ndarray) for r in result):
            raise LearnerError(f"{exercise.name} returned {_a(type(result).__name__)} of {len(result)} values: "
                               f"it returns one array, {names[0]}")
        result = (result,)
    elif not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else _a(type(result).__name__)
        raise LearnerError(f"{exercise.name} must return {len(names)} values ({', '.join(names)}), it returned {got}")
    outputs = []
    for name, value in zip(names, result):
        if name == "loss":                  # a number; an array of losses is compared, and its shape named
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray)) \
                    or np.asarray(value).dtype.kind not in "iuf":
                raise LearnerError(f"{exercise.name} returned {_a(type(value).__name__)} for loss: "
                                   "it must be a number (a float)")
            outputs.append(np.asarray(value, np.float64))
            continue
        if not isinstance(value, np.ndarray):
            raise LearnerError(f"{exercise.name} returned {_a(type(value).__name__)} for {name}: "
                               "it must be a NumPy array")
        if value.dtype.kind != "f":
            raise LearnerError(f"{exercise.name} returned {name} of dtype {value.dtype}: "
                               "it must be a float array")
        outputs.append(value)
    return outputs


def _a(noun):
    return "one array" if noun == "ndarray" else ("an " if noun[0] in "aeiou" else "a ") + noun


def check_signature(exercise, fn):
    """A LearnerError when ``fn`` cannot be called with the exercise's arguments."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):             # a builtin: nothing to read
        return
    try:
        sig.bind(*exercise.args)
    except TypeError:
        raise LearnerError(f"{exercise.name}{sig} has the wrong signature: the checker calls it as "
                           f"{exercise.name}({', '.join(exercise.args)})") from None


# ---------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------
def relative_error(a, b, floor=1.0):
    """CS231n's relative error over the whole output, max|a - b| / max(|a| + |b|), its
    denominator at least ``floor``: outputs that are all zero up to rounding (a BatchNorm dx
    over two values) are judged by their absolute error, not by the ratio of two roundings.

    inf and NaN must sit at the same places with the same values (else the error is inf);
    the finite entries are compared."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    finite_a, finite_b = np.isfinite(a), np.isfinite(b)
    if not (np.array_equal(finite_a, finite_b) and np.array_equal(a[~finite_a], b[~finite_b], equal_nan=True)):
        return np.inf
    if not finite_a.any():
        return 0.0
    scale = (np.abs(a) + np.abs(b))[finite_a].max()
    return float(np.abs(a - b)[finite_a].max() / max(scale, floor))


def _tolerance(args):
    """float32 rounding when any float argument is float32, else float64's."""
    float32 = any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args)
    return TOLERANCE[np.dtype(np.float32 if float32 else np.float64)]


def _input_dtype(args):
    return next(a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")


Verdict = collections.namedtuple("Verdict", "name error problem kind")     # kind: ok, value, shape, dtype


def compare(exercise, mine, truth, args):
    """A Verdict per output: ``error`` the relative error (None when the shape or dtype
    differs), ``problem`` a sentence or None."""
    tol, verdicts = _tolerance(args), []
    for name, a, b in zip(exercise.returns, mine, truth):
        if a.shape != b.shape:
            verdicts.append(Verdict(name, None, f"{name} has shape {a.shape}; it should be {b.shape}", "shape"))
        elif name != "loss" and a.dtype != b.dtype:
            verdicts.append(Verdict(name, None, f"{name} is {a.dtype} for {_input_dtype(args)} input: keep the "
                                    "input's dtype (make arrays with dtype=x.dtype, as minicnn and PyTorch do)",
                                    "dtype"))
        else:
            error = relative_error(a, b)
            verdicts.append(Verdict(name, error, *((None, "ok") if error <= tol else (f"{name} is wrong", "value"))))
    return verdicts


def diagnose(exercise, args, mine, truth, verdicts):
    """The common mistakes that ``mine`` equals, for its outputs with a wrong value or shape
    (a mistake that gives the right answer on these ``args`` is not told)."""
    found, tol = [], _tolerance(args)
    wrong = {v.name for v in verdicts if v.kind in ("value", "shape")}
    for output, says, variant in MISTAKES[exercise.name]:
        if output not in wrong or says in found:
            continue
        i = exercise.returns.index(output)
        try:
            with _quiet():
                b = np.asarray(variant(*(x.copy() if isinstance(x, np.ndarray) else x for x in args)))
        except ValueError:            # a mistake that cannot happen with these shapes (x @ W.T)
            continue
        if b.shape == truth[i].shape and relative_error(b, truth[i]) <= tol:
            continue
        if mine[i].shape == b.shape and relative_error(mine[i], b) <= tol:
            found.append(says)
    return found


def truth_of(exercise, args):
    return read_outputs(exercise, getattr(reference, exercise.name)(*args))


def run_case(exercise, fn, args):
    """``(outputs, truth, verdicts)`` of one case; NotDone or LearnerError from the call."""
    mine = read_outputs(exercise, call(exercise, fn, args))
    truth = truth_of(exercise, args)
    return mine, truth, compare(exercise, mine, truth, args)


# ---------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------
def _fmt(a):
    a = np.asarray(a) + 0.0                     # (-0.0 prints as 0)
    return np.array2string(a, precision=4, suppress_small=True, max_line_width=70, threshold=120)


def describe_args(exercise, args):
    """``x (2, 3, 7, 7), W (4, 3, 3, 3), b (4,), stride 2, padding 1``."""
    parts = []
    for name, a in zip(exercise.args, args):
        parts.append(f"{name} {a.shape}" if isinstance(a, np.ndarray) else f"{name} {a}")
    dtype = next((a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"), None)
    return ", ".join(parts) + (f" ({dtype})" if dtype == np.float32 else "")


def side_by_side(mine, truth, indent="      "):
    """Two arrays next to each other, yours on the left."""
    left, right = _fmt(mine).splitlines(), _fmt(truth).splitlines()
    width = max(len(line) for line in left + ["yours"])
    rows = [f"{'yours':<{width}}   minicnn's"]
    rows += [f"{a:<{width}}   {b}" for a, b in itertools.zip_longest(left, right, fillvalue="")]
    return "\n".join(indent + row for row in rows)


def show_inputs(exercise, args, write, indent="      "):
    for name, a in zip(exercise.args, args):
        if isinstance(a, np.ndarray) and a.size <= 60:
            lines = [f"{indent}  {line}" for line in _fmt(a).splitlines()]
            write(f"{indent}{name} {a.shape} {a.dtype}:\n" + "\n".join(lines))
        elif isinstance(a, np.ndarray):
            write(f"{indent}{name} {a.shape} {a.dtype} (too large to print)")
        else:
            write(f"{indent}{name} = {a!r}")


def show_failure(exercise, args, mine, truth, verdicts, write, inputs=True):
    """The wrong outputs next to minicnn's (the whole arrays when small, else the largest
    difference and the 2-D slice that holds it)."""
    if inputs:
        show_inputs(exercise, args, write)
    for v, a, b in zip(verdicts, mine, truth):
        if v.problem is None:
            continue
        write(f"    {v.problem}" + (f" (relative error {v.error:.2g})" if v.error is not None else "") + ":")
        if max(a.size, b.size) <= SMALL:
            write(side_by_side(a, b))
        elif a.shape == b.shape:
            with _quiet():
                gap = np.where(np.isnan(a) != np.isnan(b), np.inf, np.nan_to_num(np.abs(a.astype(float) - b)))
            at = np.unravel_index(int(np.argmax(gap)), a.shape)
            write(f"      the largest difference is at {v.name}[{', '.join(map(str, at))}]: yours {a[at] + 0:.6g}, "
                  f"minicnn's {b[at] + 0:.6g}")
            lead = at[:-2]
            if lead and a[lead].size <= 4 * SMALL:
                write(f"      {v.name}[{', '.join(map(str, lead))}]:")
                write(side_by_side(a[lead], b[lead]))


SMALL = 48          # arrays of at most this many values are printed whole


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------
class Result:
    """What :func:`check_function` found: ``status`` (PASS, FAIL, NOT_DONE), the
    ``diagnoses`` (common mistakes matched) and every printed line in ``lines``."""

    def __init__(self, exercise):
        self.exercise, self.status, self.diagnoses, self.lines = exercise, PASS, [], []
        self.wrong_values = False           # an output was compared and found wrong

    def write(self, line):
        self.lines.append(line)

    @property
    def text(self):
        return "\n".join(self.lines)


def check_function(exercise, fn, forward=None, forward_from=None, examples=EXAMPLES, write=None):
    """Check ``fn``, the learner's answer to ``exercise``, and print what is found with ``write``
    (each line; also kept in the Result). ``forward``: the learner's forward for the gradient
    check of a backward exercise (None: minicnn's), ``forward_from`` names where it is from."""
    result = Result(exercise)
    out = result.write if write is None else (lambda line: (result.write(line), write(line)))
    try:
        check_signature(exercise, fn)
        answer_ok, runs = _fixed_cases(exercise, fn, result, out)
        if answer_ok:
            answer_ok = _property_test(exercise, fn, result, out, examples)
        grad_ok = _gradient_check(exercise, fn, forward, forward_from, answer_ok, out) if runs else None
    except NotDone:
        result.status = NOT_DONE
        out(f"  {NOT_DONE} ({exercise.name} raises NotImplementedError)")
        return result
    except LearnerError as exc:
        result.status = FAIL
        out(f"  {exc}")
        out(f"  {FAIL}")
        return result
    result.status = PASS if answer_ok and grad_ok is not False else FAIL
    for says in result.diagnoses:
        out(f"  diagnosis: {says}")
    if result.wrong_values and not result.diagnoses:
        out("  (no common mistake matches)")
    out(f"  {result.status}")
    return result


def _fixed_cases(exercise, fn, result, out):
    """The fixed cases: ``(all right, the function ran on every case without an exception or a
    shape problem)``. NotDone when it raises NotImplementedError on every case."""
    runs = []                        # (label, args, (mine, truth, verdicts) or the sentence of its exception)
    for note, args in FIXED[exercise.name]():
        label = describe_args(exercise, args) + (f" - {note}" if note else "")
        try:
            runs.append((label, args, run_case(exercise, fn, args)))
        except NotDone:
            runs.append((label, args, f"{exercise.name} raised NotImplementedError"))
        except LearnerRaised as exc:      # told, and the other cases still run: they may diagnose it
            runs.append((label, args, str(exc)))
        except LearnerError as exc:
            raise LearnerError(f"{exc}, for {label}") from None
    if all(run == f"{exercise.name} raised NotImplementedError" for _, _, run in runs):
        raise NotDone
    out("  fixed cases:")
    ok = ran = True
    shown = False
    for label, args, run in runs:
        if isinstance(run, str):
            out(f"    {label}: {run}  WRONG")
            ok = ran = False
            continue
        mine, truth, verdicts = run
        errors = [("" if len(verdicts) == 1 else v.name + " ") + ("-" if v.error is None else f"{v.error:.1e}")
                  for v in verdicts]
        bad = [v for v in verdicts if v.problem is not None]
        out(f"    {label}: relative error {', '.join(errors)}  {'WRONG' if bad else 'ok'}")
        if not bad:
            continue
        ok, result.wrong_values = False, True
        ran = ran and all(v.kind != "shape" for v in bad)
        if not shown:                # the first wrong case in full; the others add their diagnoses
            show_failure(exercise, args, mine, truth, verdicts, out, inputs=False)
            shown = True
        else:
            for v in bad:
                if v.kind != "value":
                    out(f"    {v.problem}")
        _add(result.diagnoses, diagnose(exercise, args, mine, truth, verdicts))
    return ok, ran


def _add(found, more):
    found += [d for d in more if d not in found]


class _Draw:
    """What :mod:`.cases` draws with: ints and choices, from Hypothesis's data."""

    def __init__(self, data, st):
        self.data, self.st = data, st

    def int(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def pick(self, options):
        return self.data.draw(self.st.sampled_from(options))


class _Mismatch(Exception):
    pass


def _property_test(exercise, fn, result, out, examples):
    """Random cases against minicnn's answer; the smallest failing one printed. True when all agree."""
    from hypothesis import HealthCheck, Verbosity, given, settings
    from hypothesis import strategies as st
    failure = {}

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True, print_blob=False,
              verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(st.data())
    def agrees(data):
        args = RANDOM[exercise.name](_Draw(data, st))
        failure.clear()
        try:
            mine, truth, verdicts = run_case(exercise, fn, args)
        except (NotDone, LearnerError) as exc:
            failure.update(args=args, error=str(exc) or f"{exercise.name} raised NotImplementedError")
            raise _Mismatch
        if any(v.problem for v in verdicts):
            failure.update(args=args, mine=mine, truth=truth, verdicts=verdicts)
            raise _Mismatch

    try:
        agrees()
    except _Mismatch:
        pass
    if not failure:
        varied = ["shapes"] + [f"{name}s" for name in ("stride", "padding") if name in exercise.args]
        out(f"  property test: {examples} random cases ({', '.join(varied)}, float32 and float64): ok")
        return True
    args = failure["args"]                       # the last run: Hypothesis's smallest failing input
    out(f"  property test: WRONG on this smallest input (shrunk by Hypothesis): {describe_args(exercise, args)}")
    if "error" in failure:
        show_inputs(exercise, args, out)
        out(f"    {failure['error']}")
        return False
    show_failure(exercise, args, failure["mine"], failure["truth"], failure["verdicts"], out)
    result.wrong_values = True
    _add(result.diagnoses, diagnose(exercise, args, failure["mine"], failure["truth"], failure["verdicts"]))
    return False


def _gradient_check(exercise, fn, forward, forward_from, answer_ok, out):
    """The numerical gradient check of a backward exercise: True, False, or None (none for it)."""
    spec = GRADIENT.get(exercise.name)
    if spec is None:
        return None
    fargs = spec.make()
    try:
        with _quiet():
            if spec.forward is None:             # fn returns (loss, gradient) itself
                source = "your loss"
                errors = _loss_gradient_errors(exercise, fn, fargs)
            else:
                fwd, source = _usable_forward(spec, forward, forward_from, fargs)
                errors = _backward_gradient_errors(exercise, fn, spec, fwd, fargs)
            forward_wrong = spec.forward is not None and source.startswith("your") and \
                not _agrees_with_minicnn(spec, fwd, fargs)
    except NotDone:                              # done for the other cases, not for this one
        raise LearnerError(f"{exercise.name} raised NotImplementedError on the gradient check's input") from None
    grad_ok = max(errors.values()) <= GRADIENT_TOLERANCE
    yours = "your backward" if spec.forward else "your dlogits"
    listed = ", ".join(f"{name} {error:.1e}" for name, error in errors.items())
    out(f"  gradient check against {source} (float64, central differences): {listed}  {'ok' if grad_ok else 'WRONG'}")
    if grad_ok and not answer_ok:
        out(f"    {yours} is the gradient of your {spec.forward}, which is wrong: fix the forward first"
            if forward_wrong else "    the gradient check passes on ordinary inputs: the difference is in a special "
                                  "case above (ties, zeros, large values)")
    elif not grad_ok and answer_ok:
        out(f"    {yours} agrees with minicnn's, so your {spec.forward} is what is wrong: check it")
        return True
    elif not grad_ok:
        out(f"    {yours} is not the gradient of {source}" + (
            f" either, and your {spec.forward} is wrong too: fix the forward first" if forward_wrong else ""))
    return grad_ok


def _usable_forward(spec, forward, forward_from, fargs):
    """The learner's forward when it is done and runs on the check's case, else minicnn's."""
    name = spec.forward
    if forward is not None:
        try:
            out = read_outputs(BY_NAME[name], call(BY_NAME[name], forward, fargs))[0]
            if out.shape == truth_of(BY_NAME[name], fargs)[0].shape:
                return forward, f"your {name} ({forward_from})"
            why = "gives the wrong shape"
        except NotDone:
            why = "is not done yet"
        except LearnerError:
            why = "fails on the check's input"
        return getattr(reference, name), f"minicnn's {name} (yours {why})"
    return getattr(reference, name), f"minicnn's {name}"


def _agrees_with_minicnn(spec, fwd, fargs):
    mine = read_outputs(BY_NAME[spec.forward], call(BY_NAME[spec.forward], fwd, fargs))[0]
    return relative_error(mine, truth_of(BY_NAME[spec.forward], fargs)[0]) <= TOLERANCE[np.dtype(np.float64)]


def _backward_gradient_errors(exercise, fn, spec, forward, fargs):
    """{output: relative error} of fn's gradients against central differences of sum(dout * forward)."""
    run_forward = lambda args: read_outputs(BY_NAME[spec.forward], call(BY_NAME[spec.forward], forward, args))[0]
    dout = np.random.default_rng(0).standard_normal(run_forward(fargs).shape)
    analytic = read_outputs(exercise, call(exercise, fn, spec.backward_args(dout, fargs)))
    errors = {}
    for name, grad, index in zip(exercise.returns, analytic, spec.wrt):
        def loss(value, index=index):
            args = list(fargs)
            args[index] = value
            return float((dout * run_forward(args)).sum())
        numeric = gradcheck.numerical_gradient(loss, fargs[index].copy())
        errors[name] = _gradient_error(name, grad, numeric)
    return errors


def _loss_gradient_errors(exercise, fn, fargs):
    logits, labels = fargs
    loss, dlogits = read_outputs(exercise, call(exercise, fn, fargs))
    numeric = gradcheck.numerical_gradient(
        lambda z: float(read_outputs(exercise, call(exercise, fn, (z, labels)))[0]), logits.copy())
    return {"dlogits": _gradient_error("dlogits", dlogits, numeric)}


def _gradient_error(name, grad, numeric):
    if grad.shape != numeric.shape:
        raise LearnerError(f"{name} has shape {grad.shape}; the gradient has shape {numeric.shape}")
    return gradcheck.relative_error(grad, numeric)


# ---------------------------------------------------------------------------
# A whole file
# ---------------------------------------------------------------------------
def check_file(path, only=None, write=print, examples=EXAMPLES):
    """Check every exercise the learner's file defines (or only the one named ``only``).
    Returns ``(exit code, {name: Result})``: 0 when every implemented exercise passes."""
    if only is not None and only not in BY_NAME:
        write(f"there is no exercise named {only!r}; the exercises are: {', '.join(BY_NAME)}")
        return 1, {}
    try:
        module = load_file(path)
    except LearnerError as exc:
        write(str(exc))
        return 1, {}
    base = os.path.basename(path)
    mine, imported = defined_exercises(module, path)
    if only is not None:
        fn = getattr(module, only, None)
        if not callable(fn):
            write(f"{base} defines no function {only}: write `def {signature(BY_NAME[only]).split(' ->')[0]}:`")
            return 1, {}
        mine, imported = [(BY_NAME[only], fn)], {}
    if not mine:
        write(f"{base} defines none of the exercises: {', '.join(BY_NAME)}" + (
            f" (it imports {', '.join(imported)}, checked in {', '.join(sorted(set(imported.values())))})"
            if imported else ""))
        return 1, {}
    results = {}
    for exercise, fn in mine:
        write(f"{exercise.name}  (track step{'s' if len(exercise.steps) > 1 else ''} "
              f"{', '.join(map(str, exercise.steps))})")
        forward, forward_from = None, None
        spec = GRADIENT.get(exercise.name)
        if spec is not None and spec.forward is not None:
            forward, forward_from = learner_forward(spec.forward, module, path)
        results[exercise.name] = check_function(exercise, fn, forward, forward_from, examples, write)
    for name, source in imported.items():
        write(f"{name}: imported from {source}, checked there")
    counts = {status: sum(r.status == status for r in results.values()) for status in (PASS, FAIL, NOT_DONE)}
    write(f"{base}: {counts[PASS]} passed, {counts[FAIL]} failed, {counts[NOT_DONE]} not done yet")
    return (1 if counts[FAIL] else 0), results
