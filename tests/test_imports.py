"""The imports of minicnn, read from the source with ``ast``: every import, those inside
functions included, makes a graph of minicnn's modules with no circle; an import inside a
function is only of an optional or platform dependency; the layers never reach
minicnn.model; the references of minicnn.functional import neither the fast twins nor
the choice between them."""
import ast
import pathlib

import pytest

import minicnn

PACKAGE = pathlib.Path(minicnn.__file__).resolve().parent
#: What may be imported inside a function: optional extras and platform modules, imported
#: where used so that minicnn imports without them.
OPTIONAL = ("cupy", "onnx", "google.protobuf", "matplotlib", "PIL", "fcntl", "hypothesis")   # PIL: Pillow,
# matplotlib's dependency, which data.ImageFolder reads files with


def module_name(path, package=PACKAGE):
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _file_of(module, package=PACKAGE):
    path = package.parent.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None                                   # a name inside a module, not a module


def imports(path, package=PACKAGE):
    """``[(module imported, line, inside a function), ...]`` of the file ``path``: every
    ``import`` and ``from ... import``, relative ones resolved; ``from m import name`` is the
    module ``m.name`` when that is a module, else ``m``."""
    module = module_name(path, package)
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = here[:len(here) - child.level + 1] if child.level else []
                stem = ".".join(base + ([child.module] if child.module else []))
                for alias in child.names:
                    sub = f"{stem}.{alias.name}"
                    found.append((sub if _file_of(sub, package) else stem, child.lineno, inside))
            visit(child, inside)
    visit(ast.parse(path.read_text()), False)
    return found


def import_graph(package=PACKAGE):
    """``{module: {minicnn module it imports, ...}}`` over every file of the package."""
    graph = {}
    for path in sorted(package.rglob("*.py")):
        graph[module_name(path, package)] = {name for name, _, _ in imports(path, package)
                                             if name.split(".")[0] == package.name and _file_of(name, package)}
    return graph


def find_circle(graph):
    """A list of modules ``[a, b, ..., a]`` that import each other in a circle, or None."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                circle = visit(target)
                if circle:
                    return circle
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            circle = visit(module)
            if circle:
                return circle
    return None


def reachable(graph, start):
    seen, todo = set(), list(start)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------
def test_no_import_circle_even_through_imports_inside_functions():
    graph = import_graph()
    assert len(graph) > 30 and "minicnn.layers.base" in graph["minicnn.layers.conv"]     # the walk works
    circle = find_circle(graph)
    assert circle is None, " -> ".join(circle)


def _files():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.relative_to(PACKAGE).as_posix())
                                  for p in _files()])
def test_imports_inside_functions_are_only_of_optional_dependencies(path):
    inside = [(name, line) for name, line, in_function in imports(path)
              if in_function and not (name + ".").startswith(tuple(o + "." for o in OPTIONAL))]
    assert not inside, f"{path.name}: move to the top: {inside}"


def test_the_walk_sees_imports_inside_functions_and_circles(tmp_path):
    package = tmp_path / "pkg"
    (package / "layers").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import a\n")
    (package / "a.py").write_text("from .layers import b\n")
    (package / "layers" / "__init__.py").write_text("from .b import thing\n")
    (package / "layers" / "b.py").write_text("def f():\n    from ..a import g\n    import cupy\n")
    found = imports(package / "layers" / "b.py", package)
    assert found == [("pkg.a", 2, True), ("cupy", 3, True)]
    assert find_circle(import_graph(package)) == ["pkg.a", "pkg.layers.b", "pkg.a"]
    (package / "layers" / "b.py").write_text("def f():\n    from . import thing\n")     # the package itself
    assert set(find_circle(import_graph(package))) == {"pkg.layers", "pkg.layers.b"}


def test_no_module_of_minicnn_layers_imports_minicnn_model_even_indirectly():
    graph = import_graph()
    seen = reachable(graph, [m for m in graph if m.startswith("minicnn.layers")])
    assert "minicnn.layers.container" in seen and "minicnn.functional" in seen    # the walk works
    assert "minicnn.model" not in seen and "minicnn.training" not in seen


def test_the_references_import_neither_the_fast_twins_nor_the_choice():
    """functional.py imports neither fast.py nor the layers (where FAST_TWINS chooses);
    fast.py imports the references, not the choice; only layers/base.py names both."""
    graph = import_graph()
    assert not reachable(graph, ["minicnn.functional"]) & {"minicnn.fast", "minicnn.layers.base", "minicnn.paths"}
    assert "minicnn.functional" in graph["minicnn.fast"]
    assert not reachable(graph, ["minicnn.fast"]) & {"minicnn.layers.base", "minicnn.paths"}
    naming_both = [p.relative_to(PACKAGE).as_posix() for p in _files()
                   if "F.conv2d_forward: (fast.conv2d_forward" in p.read_text()]
    assert naming_both == ["layers/base.py"]


def test_the_generic_checks_import_nothing_of_minicnn_but_devices():
    assert import_graph()["minicnn._checks"] == {"minicnn.devices"}
