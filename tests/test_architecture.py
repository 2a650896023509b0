"""The package's structure, checked on its source with ``ast`` (docs/architecture.md).

* The layer order is data (:data:`LAYERS`, lowest first): every module belongs to exactly one
  layer and imports only modules of its own layer or lower ones; the import graph has no
  cycle. Edges are every ``import`` (module level or inside a function) and, in a module that
  calls ``importlib.import_module`` on a computed name, every ``"lotteryproofs.…"`` string it
  holds (the lazy tables of the package root, the CLI, the figures and the theorems).
* No construction name is compared as a string (==, !=, in, match, dict keys, subscripts)
  outside the construction modules and their registry.
* No law sampler outside laws.py: no function that chooses a distribution by a law's name and
  draws from an rng itself.
* The version string is defined once (lotteryproofs/_version.py, equal to pyproject.toml's),
  and the public names ``lotteryproofs.construct`` / ``lotteryproofs.certify`` do not depend
  on import order.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lotteryproofs"

#: The layers of the package, lowest first (docs/architecture.md). An entry names a module,
#: or a package and everything inside it. A module may import its own layer and lower ones.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("lotteryproofs._version", "lotteryproofs._limits", "lotteryproofs._validate",
     "lotteryproofs.progress", "lotteryproofs.bound_spec", "lotteryproofs.rounding",
     "lotteryproofs.iv_functions", "lotteryproofs.schemas", "lotteryproofs._worker_env",
     "lotteryproofs.outputs", "lotteryproofs.background", "lotteryproofs.indices"),
    ("lotteryproofs.activations",),
    ("lotteryproofs.layers", "lotteryproofs.conv_layers"),
    ("lotteryproofs.propagation", "lotteryproofs.residual"),
    ("lotteryproofs.network", "lotteryproofs.laws", "lotteryproofs.stats", "lotteryproofs.rss",
     "lotteryproofs.conv_params", "lotteryproofs.philox", "lotteryproofs.philox_words",
     "lotteryproofs.sparse_relu", "lotteryproofs.safetensors_format",
     "lotteryproofs.state_dict"),
    ("lotteryproofs.ticket", "lotteryproofs.targets", "lotteryproofs.target_info",
     "lotteryproofs.conv_source",
     "lotteryproofs.architecture",
     "lotteryproofs.init", "lotteryproofs.datasets"),
    ("lotteryproofs.a_priori", "lotteryproofs.bounds", "lotteryproofs.constants",
     "lotteryproofs.signal", "lotteryproofs.popup", "lotteryproofs.io", "lotteryproofs.executor"),
    ("lotteryproofs.popup_batch", "lotteryproofs.popup_conv"),
    # the constructions, bottom-up: shared pieces, widening, one module per method, registry
    ("lotteryproofs.construct.options", "lotteryproofs.construct.common",
     "lotteryproofs.construct.univariate", "lotteryproofs.construct.base",
     "lotteryproofs.construct.sizing"),
    ("lotteryproofs.construct.widen",),
    ("lotteryproofs.construct.two_layer",),
    ("lotteryproofs.construct.looks_linear", "lotteryproofs.construct.zero_bias",
     "lotteryproofs.construct.l_plus_one", "lotteryproofs.construct.conv_two_layer"),
    ("lotteryproofs.construct.bounded_gain", "lotteryproofs.construct.l_plus_one_general",
     "lotteryproofs.construct.conv_l_plus_one", "lotteryproofs.construct.conv_bounded_gain"),
    ("lotteryproofs.construct.registry",),
    ("lotteryproofs.construct",),
    ("lotteryproofs.certify", "lotteryproofs.memory", "lotteryproofs.ticket_checks"),
    ("lotteryproofs.evaluate", "lotteryproofs.train", "lotteryproofs.train_conv",
     "lotteryproofs.experiments",
     "lotteryproofs.export"),
    ("lotteryproofs.popup_tasks",),
    ("lotteryproofs.theorems", "lotteryproofs.checks", "lotteryproofs.report",
     "lotteryproofs.testing"),
    ("lotteryproofs.figures",),
    ("lotteryproofs.commands", "lotteryproofs.cli", "lotteryproofs.__main__", "lotteryproofs"),
)

#: Import cycles known and owned elsewhere: none (the theorem records, lotteryproofs.theorems,
#: import no check; the registry, lotteryproofs.checks, imports the check modules). Any cycle
#: fails.
KNOWN_CYCLE_EDGES = frozenset()

#: Where construction names may appear: the construction modules and their registry.
REGISTRY_MODULES = frozenset({
    "lotteryproofs.construct.two_layer", "lotteryproofs.construct.looks_linear",
    "lotteryproofs.construct.l_plus_one", "lotteryproofs.construct.zero_bias",
    "lotteryproofs.construct.bounded_gain", "lotteryproofs.construct.registry",
    "lotteryproofs.construct.conv_two_layer",
})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _resolve(name: str) -> str | None:
    """The module a dotted name refers to (a module, or an attribute of one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _dynamic_importer(tree) -> bool:
    """Whether the module calls import_module (or __import__) on a computed name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = getattr(func, "attr", getattr(func, "id", None))
            if called in ("import_module", "__import__") and not (
                    node.args and isinstance(node.args[0], ast.Constant)):
                return True
    return False


def _imports(name: str) -> set[str]:
    tree = TREES[name]
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    dynamic = _dynamic_importer(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(_resolve(a.name) for a in node.names if a.name.startswith("lotteryproofs"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("lotteryproofs"):
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    out.add(full if full in MODULES else _resolve(base))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.split(":")[0]
            is_name = text.startswith("lotteryproofs.") and text.replace(".", "").replace(
                "_", "").isalnum()
            if is_name and dynamic:
                out.add(_resolve(text))
    out.discard(None)
    out.discard(name)
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _layer_of(module: str) -> int:
    best, layer = -1, None
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            matches = module == entry or (entry != "lotteryproofs"
                                          and module.startswith(entry + "."))
            if matches and len(entry) > best:
                best, layer = len(entry), index
    return layer


def _known(edge) -> bool:
    a, b = edge
    return any((a == x or a.startswith(x + ".")) and (b == y or b.startswith(y + "."))
               for x, y in KNOWN_CYCLE_EDGES)


# ------------------------------------------------------------------------------- the layers
def test_every_module_has_one_layer():
    missing = [m for m in MODULES if _layer_of(m) is None]
    assert not missing, f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def test_lower_layers_never_import_higher_ones():
    violations = [(a, b) for a, targets in GRAPH.items() for b in targets
                  if _layer_of(b) > _layer_of(a)]
    assert not violations, f"imports against the layer order: {sorted(violations)}"


def test_no_import_cycle():
    """Depth-first search for a back edge, with the one known cycle's edges removed."""
    graph = {a: {b for b in bs if not _known((a, b))} for a, bs in GRAPH.items()}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(nxt):])}"
                                     f" -> {nxt}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_graph_sees_hidden_imports():
    """The edges the tests rely on are found: a function-level import, a lazy table's string."""
    assert "lotteryproofs.bounds" in GRAPH["lotteryproofs.construct"]   # inside a function
    assert "lotteryproofs.certify" in GRAPH["lotteryproofs"]            # the root's table
    assert "lotteryproofs.commands.construct" in GRAPH["lotteryproofs.cli"]
    assert "lotteryproofs.checks.construct" in GRAPH["lotteryproofs.checks"]  # the registry
    assert "lotteryproofs.theorems" in GRAPH["lotteryproofs.checks.rss"]      # the records


# ------------------------------------------------------------------ construction names
def _names() -> frozenset:
    from lotteryproofs.construct.registry import construction_names

    return frozenset(construction_names())


def _string_uses(tree, names) -> list[tuple[int, str]]:
    """(line, kind) of every place a construction name is compared or used as a key."""
    def is_name(node):
        return isinstance(node, ast.Constant) and node.value in names

    def holds_name(node):
        return is_name(node) or (isinstance(node, ast.Tuple | ast.List | ast.Set)
                                 and any(is_name(e) for e in node.elts))

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
                holds_name(x) for x in (node.left, *node.comparators)):
            out.append((node.lineno, "comparison"))
        elif isinstance(node, ast.Dict) and any(k is not None and is_name(k) for k in node.keys):
            out.append((node.lineno, "dict key"))
        elif isinstance(node, ast.Subscript) and is_name(node.slice):
            out.append((node.lineno, "subscript"))
        elif isinstance(node, ast.MatchValue) and is_name(node.value):
            out.append((node.lineno, "match"))
    return out


def test_no_construction_name_is_compared_outside_the_registry():
    names = _names()
    found = {m: uses for m, tree in TREES.items() if m not in REGISTRY_MODULES
             if (uses := _string_uses(tree, names))}
    assert not found, f"construction names used for dispatch outside the registry: {found}"


def test_the_name_detector_finds_dispatch():
    names = frozenset({"2l", "ll"})
    tree = ast.parse('if m == "2l": pass\nx = {"ll": 1}\ny = d["2l"]\nz = m in ("ll", "q")\n'
                     'match m:\n    case "2l": pass\nok = f("2l")\n')
    assert [kind for _, kind in _string_uses(tree, names)] == [
        "comparison", "dict key", "subscript", "comparison", "match"]


# ------------------------------------------------------------------------------ law samplers
LAW_NAMES = frozenset({"uniform", "normal", "product", "normal-product", "sign-split",
                       "looks-linear"})
DRAWS = frozenset({"uniform", "standard_normal", "normal", "random", "choice"})


def _law_samplers(tree) -> list[str]:
    """Functions that compare something to a law's name and draw from an rng themselves."""
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        compares = any(isinstance(n, ast.Compare) and any(
            isinstance(x, ast.Constant) and x.value in LAW_NAMES
            for x in (n.left, *n.comparators)) for n in ast.walk(fn))
        draws = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr in DRAWS for n in ast.walk(fn))
        if compares and draws:
            out.append(fn.name)
    return out


def test_one_sampler_per_law():
    found = {m: fns for m, tree in TREES.items() if m != "lotteryproofs.laws"
             if (fns := _law_samplers(tree))}
    assert not found, f"law samplers outside lotteryproofs.laws: {found}"
    old = ast.parse('def _draw(law, rng, n):\n    if law == "normal":\n'
                    '        return rng.standard_normal(n)\n    return rng.uniform(-1, 1, n)\n')
    assert _law_samplers(old) == ["_draw"]


def test_same_draws_through_the_one_sampler():
    """The samplers the initialisation, widening and checks used to carry give the same
    numbers as laws.sample (the regression baseline depends on it)."""
    import numpy as np

    from lotteryproofs import laws

    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(laws.sample("uniform", a, (3, 4)), b.uniform(-1.0, 1.0, (3, 4)))
    assert np.array_equal(laws.sample("normal", a, 7), b.standard_normal(7))
    assert np.array_equal(laws.sample("product", a, 5), b.uniform(-1, 1, 5) * b.uniform(-1, 1, 5))


# --------------------------------------------------------------------- version and exports
def test_version_defined_once():
    from lotteryproofs._version import __version__

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__
    assigned = [m for m, tree in TREES.items() for node in ast.walk(tree)
                if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)]
    assert assigned == ["lotteryproofs._version"]


PROGRAM = """
import numpy as np
{first}
import lotteryproofs as lp
{then}
target = lp.random_target((2, 3, 1), np.random.default_rng(0))
ticket = lp.construct(target, "2l", eps_param=0.05, delta=0.1, rng=0, rho=8)
certificate = lp.certify(ticket, target, (-1.0, 1.0), n_samples=50)
from lotteryproofs import construct, certify
assert lp.construct is construct and lp.certify is certify
assert construct.construct is not construct and callable(construct)
assert construct(target, "2l", eps_param=0.05, delta=0.1, rng=0, rho=8).count_nonzero() \\
    == ticket.count_nonzero()
import inspect
assert "eps_param" in inspect.signature(lp.construct).parameters
assert "n_samples" in inspect.signature(lp.certify).parameters
print(certificate.method, type(lp.construct).__name__)
"""


@pytest.mark.parametrize("first, then", [
    ("", ""),
    ("import lotteryproofs.construct.common\nimport lotteryproofs.certify", ""),
    ("", "import lotteryproofs.construct.two_layer\nfrom lotteryproofs.certify import certify"),
])
def test_public_names_do_not_depend_on_import_order(first, then):
    """lp.construct / lp.certify are the modules and callable as the functions, whatever was
    imported before (the README's snippet), in a fresh interpreter each time."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(first=first, then=then)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2l", "_CallableModule"]
