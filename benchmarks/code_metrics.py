"""How readable is the source? Measures of the minicnn package, taken with Python's ``ast``.

    python benchmarks/code_metrics.py                   # this checkout
    python benchmarks/code_metrics.py --root ../old     # another checkout, for a before/after
    python benchmarks/code_metrics.py --json out.json

What is counted:

- **code lines**: the lines of a statement, without blank lines, comments and docstrings;
- **validation lines**: the code lines of statements that only check arguments: ``raise``,
  ``assert``, an ``if`` (or ``for``) whose body only checks, a ``try`` whose handlers only
  re-raise as errors, and a statement whose value is a call to a checker (a function
  named ``check_*``, ``_check*``, ``pair`` or ``_as_*``);
- the share of validation lines in ``minicnn/layers/`` (but ``base.py``, where the checks every
  layer runs are gathered by design), ``losses.py``, ``optim.py`` and
  ``gradcheck.py``;
- the code lines of every layer's ``_forward`` and ``_backward`` (its maths), of ``fit``, and the
  longest function in ``minicnn/``;
- the calls between ``Conv2D._forward`` (the maths, after ``Layer.forward``'s checks) and its matrix product: the module-level minicnn
  functions entered, depth first in source order, before the first ``@`` (or
  ``np.matmul``/``np.dot``) runs, along the reference path (fast paths switched off: a call
  ``fastest(F.name, x)`` counts as a call of the reference ``F.name``), checks
  and ``minicnn/devices.py`` (``array_module``, the choice of NumPy or CuPy, and the helpers
  for what differs between them) not counted;
- the files and functions one convolution walks through, forward and backward, by a call
  trace (``conv_trace.py``, which says what its "reading path" leaves out).

Targets minicnn holds itself to, so that a layer's maths reads at a glance: every
_forward/_backward <= 15, fit <= 40, no function over 60, validation <= 10% of the layer
files' code lines.
"""
import argparse
import ast
import io
import json
import os
import sys
import tokenize

import conv_trace

CHECKERS = ("check_", "_check", "pair", "_as_")
TARGETS = {"forward/backward": 15, "fit": 40, "function": 60, "layer validation %": 10}


# ---------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------
def code_lines(source, tree):
    """Line numbers holding code: not blank, not only a comment, not part of a docstring."""
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines -= set(range(first.lineno, first.end_lineno + 1))
    return lines


def _is_checker_call(node):
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name.startswith(CHECKERS)


def is_validation(stmt):
    """Does ``stmt`` only check arguments (see the module docstring)?"""
    if isinstance(stmt, (ast.Raise, ast.Assert)):
        return True
    if isinstance(stmt, ast.If):
        return all(map(is_validation, stmt.body)) and all(map(is_validation, stmt.orelse))
    if isinstance(stmt, ast.For):
        return all(map(is_validation, stmt.body)) and not stmt.orelse
    if isinstance(stmt, ast.Try):
        return all(all(map(is_validation, h.body)) for h in stmt.handlers) and stmt.handlers and \
            all(isinstance(s, (ast.Assign, ast.Return, ast.Expr)) for s in stmt.body)
    if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign, ast.Return)) and stmt.value is not None:
        value = stmt.value
        if isinstance(value, (ast.Tuple, ast.List)):
            return bool(value.elts) and all(map(_is_checker_call, value.elts))
        if isinstance(value, ast.GeneratorExp) or isinstance(value, ast.ListComp):
            return _is_checker_call(value.elt)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "tuple" \
                and value.args and isinstance(value.args[0], ast.GeneratorExp):
            return _is_checker_call(value.args[0].elt)
        return _is_checker_call(value)
    return False


def validation_lines(tree, code):
    lines = set()

    def visit(body):
        for stmt in body:
            if is_validation(stmt):
                lines.update(range(stmt.lineno, stmt.end_lineno + 1))
            else:
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(stmt, field, []) or [])
                for handler in getattr(stmt, "handlers", []) or []:
                    visit(handler.body)
    visit(tree.body)
    return lines & code


# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------
class Module:
    def __init__(self, path, name):
        self.path, self.name = path, name
        with open(path, encoding="utf-8") as f:
            self.source = f.read()
        self.tree = ast.parse(self.source)
        self.code = code_lines(self.source, self.tree)
        self.validation = validation_lines(self.tree, self.code)
        self.functions = {}            # qualified name -> node
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        self.functions[f"{node.name}.{item.name}"] = item

    def length(self, node):
        return len(set(range(node.lineno, node.end_lineno + 1)) & self.code)


def load_modules(root):
    pkg = os.path.join(root, "minicnn")
    modules = {}
    for folder, _, files in os.walk(pkg):
        for file in sorted(files):
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                modules[rel] = Module(path, rel)
    return modules


def _imports(module):
    """``{local name: (module name, function name or None)}`` of a module's relative imports."""
    names = {}
    package = module.name.rsplit(".", 1)[0]
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                local = alias.asname or alias.name
                names[local] = (target, alias.name)
    return names


def calls_to_matmul(modules, start_module, start_function):
    """Module-level functions entered from ``start_function`` before the first matrix product,
    depth first in source order; ``(names, found)``."""
    entered = []

    def is_product(node):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return True
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("matmul", "dot") and isinstance(node.func.value, ast.Name) and \
            node.func.value.id == "np"

    def resolve(module, call):
        f, imports = call.func, _imports(module)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in imports:
            target, name = imports[f.value.id]
            mod = modules.get(f"{target}.{name}") or modules.get(target)
            if mod is not None and f.attr in mod.functions:
                return mod, f.attr
        if isinstance(f, ast.Name):
            if f.id in module.functions:
                return module, f.id
            if f.id in imports:
                target, name = imports[f.id]
                mod = modules.get(target)
                if mod is not None and name in mod.functions:
                    return mod, name
        return None

    def walk(module, node, depth):
        """True once a product is reached."""
        for child in _in_order(node):
            if is_product(child):
                return True
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "fastest" \
                    and child.args:          # fastest(F.name, x): the reference F.name, as called
                child = ast.Call(func=child.args[0], args=[], keywords=[])
            if isinstance(child, ast.Call):
                target = resolve(module, child)
                if target is not None and depth < 12:
                    mod, name = target
                    if name.startswith("_check") or name.startswith("check_") or mod.name.endswith(".devices"):
                        continue              # checks, and the choice of NumPy or CuPy (devices.py), are not the maths
                    entered.append(f"{mod.name.split('.')[-1]}.{name}")
                    if walk(mod, mod.functions[name], depth + 1):
                        return True
        return False

    module = modules[start_module]
    found = walk(module, module.functions[start_function], 0)
    return entered, found


def _in_order(node):
    """The nodes under ``node`` in source order, arguments before the call that takes them,
    skipping the branches that run only with the fast paths on (``if fast_paths_enabled()``)."""
    out = []

    def visit(n):
        if isinstance(n, ast.If) and "fast_paths" in ast.unparse(n.test):
            for s in n.orelse:
                visit(s)
            return
        if isinstance(n, ast.Call):
            for a in [n.func, *n.args, *(k.value for k in n.keywords)]:     # (a @ b).reshape(...): the product first
                visit(a)
            out.append(n)
            return
        for child in ast.iter_child_nodes(n):
            visit(child)
        if isinstance(n, ast.BinOp):
            out.append(n)
    for stmt in node.body:
        visit(stmt)
    return out


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def measure(root):
    modules = load_modules(root)
    checked = [m for m in modules.values()
               if ".layers." in m.name or m.name.endswith((".losses", ".optim", ".gradcheck"))]
    # the layer files but base.py: the per-call checks of every layer are gathered there by design
    # (the layer protocol), so the share says how much of a layer file is not its maths
    layer_files = [m for m in modules.values() if ".layers." in m.name and not m.name.endswith(".layers.base")]
    share = lambda ms: 100.0 * sum(len(m.validation) for m in ms) / max(1, sum(len(m.code) for m in ms))
    per_file = {m.name: round(100.0 * len(m.validation) / max(1, len(m.code)), 1) for m in checked}

    layer_methods = {}
    for m in layer_files:
        for qual, node in m.functions.items():
            if "." in qual and qual.split(".")[1] in ("_forward", "_backward") and not qual.startswith("Layer."):
                layer_methods[qual] = m.length(node)
    training = next(m for m in modules.values() if m.name.endswith(".training"))
    longest = max(((m.length(node), f"{m.name}.{qual}") for m in modules.values()
                   for qual, node in m.functions.items()))
    conv = next(m for m in modules.values() if m.name.endswith(".layers.conv"))
    chain, found = calls_to_matmul(modules, conv.name, "Conv2D._forward")
    return {
        "root": os.path.abspath(root),
        "code_lines": sum(len(m.code) for m in modules.values()),
        "validation_lines": sum(len(m.validation) for m in modules.values()),
        "validation_percent_all": round(share(list(modules.values())), 1),
        "validation_percent_checked_files": round(share(checked), 1),
        "validation_percent_layer_files": round(share(layer_files), 1),
        "validation_percent_per_file": per_file,
        "forward_backward_lines": layer_methods,
        "longest_forward_backward": max(layer_methods.items(), key=lambda kv: kv[1]),
        "fit_lines": training.length(training.functions["fit"]),
        "longest_function": {"name": longest[1], "lines": longest[0]},
        "conv_forward_to_matmul": {"calls": len(chain) if found else None, "chain": chain},
        "conv_trace": conv_trace.measure(root),
    }


def report(m):
    print(f"minicnn at {m['root']}: {m['code_lines']} code lines, {m['validation_lines']} of them validation "
          f"({m['validation_percent_all']}%)")
    print(f"validation share: layer files {m['validation_percent_layer_files']}% "
          f"(target <= {TARGETS['layer validation %']}%), layers+losses+optim+gradcheck "
          f"{m['validation_percent_checked_files']}%")
    for name, pct in sorted(m["validation_percent_per_file"].items()):
        print(f"  {name:32s} {pct:5.1f}%")
    print(f"forward/backward code lines (target <= {TARGETS['forward/backward']}):")
    for name, n in sorted(m["forward_backward_lines"].items()):
        print(f"  {name:32s} {n:3d}")
    print(f"fit: {m['fit_lines']} code lines (target <= {TARGETS['fit']})")
    print(f"longest function: {m['longest_function']['name']} with {m['longest_function']['lines']} "
          f"code lines (target <= {TARGETS['function']})")
    chain = m["conv_forward_to_matmul"]
    print(f"Conv2D._forward to its matrix product: {chain['calls']} calls: " + " -> ".join(chain["chain"]))
    conv_trace.report(m["conv_trace"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="the checkout to measure (default: this one)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    m = measure(args.root)
    report(m)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(m, f, indent=2)
    return m


if __name__ == "__main__":
    sys.exit(main() and 0)
