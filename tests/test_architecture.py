"""The package's shape: every module imports alone, no import cycle, layers, small files and functions.

The import graph is read from the source (``ast``): every ``import benign...`` and ``from benign...``
of a module, at module level, inside functions and under ``TYPE_CHECKING`` alike, since each is a
dependency a reader has to follow and a cycle through a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "benign"
#: Layers that stay importable without the rest of benign (only :data:`FOUNDATIONS` and themselves).
BASE_LAYERS = ("benign.attacks", "benign.models", "benign.data")
#: The modules every layer may import: the error types and the short-name registry.
FOUNDATIONS = ("benign.errors", "benign.registry")
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    """``benign/data/base.py`` -> ``benign.data.base``; a package's ``__init__`` -> its name."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, name: str, path: Path) -> str:
    """The absolute module of a ``from X import ...``, resolving relative imports."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(name: str) -> set[str]:
    """The benign modules that module ``name`` imports (``from pkg import mod`` names ``mod``)."""
    path, known = modules()[name], modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"d"}}) == ["d", "d"]


def test_the_import_graph_has_no_cycle() -> None:
    graph = {name: imports_of(name) for name in modules()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_base_layers_import_only_foundations_and_themselves() -> None:
    wrong = []
    for name in modules():
        layer = next((b for b in BASE_LAYERS if name == b or name.startswith(b + ".")), None)
        if layer is None:
            continue
        for target in sorted(imports_of(name)):
            if target not in FOUNDATIONS and not (
                target == layer or target.startswith(layer + ".")
            ):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "layering broken:\n" + "\n".join(wrong)


def test_no_file_over_300_lines_and_no_function_over_60() -> None:
    long_files, long_functions = [], []
    for name, path in modules().items():
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(
                        f"{name}.{node.name} (line {node.lineno}): {length} lines"
                    )
    assert not long_files + long_functions, (
        f"over {MAX_FILE_LINES} lines:\n  " + "\n  ".join(long_files or ["-"])
        + f"\nfunctions over {MAX_FUNCTION_LINES} lines:\n  " + "\n  ".join(long_functions or ["-"])
    )  # fmt: skip


def third_party_imports() -> list[str]:
    """Every non-benign module the package imports by name (absolute imports only)."""
    found: set[str] = set()
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module)
    return sorted(n for n in found if n.split(".")[0] != "benign")


# A fresh interpreter imports the package's third-party dependencies once (the slow part), then
# forks one child per benign module: each child starts with no benign module loaded and imports
# just that one, as a user's script or a worker process would, whatever the others do at import.
IMPORT_EACH = """
import compileall, importlib, inspect, json, multiprocessing, os, sys, traceback

def import_alone(name):
    try:
        importlib.import_module(name)
    except BaseException as err:
        return name, traceback.format_exception_only(type(err), err)[-1].strip()
    return name, None

if __name__ == "__main__":
    names, dependencies, package, pycache = json.loads(sys.argv[1]), *sys.argv[2:]
    dependencies = json.loads(dependencies)
    for dependency in dependencies:
        try:
            importlib.import_module(dependency)
        except BaseException:
            pass  # an optional dependency: the child importing it reports the failure
    assert not [m for m in sys.modules if m.split(".")[0] == "benign"]
    # jsonargparse's lazy_instance (a default of some __init__s) calls inspect.stack(), whose
    # getmodule scans all of sys.modules for each frozen importlib frame on the stack: seconds per
    # module here. Knowing those two files makes that a lookup; nothing else changes.
    for frozen in ("importlib._bootstrap", "importlib._bootstrap_external"):
        inspect.modulesbyfile[os.path.abspath(f"<frozen {frozen}>")] = frozen
    # benign compiled once, into a folder of the test, rather than once in every child
    sys.pycache_prefix, sys.dont_write_bytecode = pycache, False
    compileall.compile_dir(package, quiet=2)
    context = multiprocessing.get_context("fork")
    with context.Pool(2, maxtasksperchild=1) as pool:
        failures = {name: why for name, why in pool.imap(import_alone, names) if why}
    print(json.dumps(failures))
"""


def test_every_module_imports_alone(tmp_path: Path) -> None:
    arguments = [json.dumps(sorted(modules())), json.dumps(third_party_imports())]
    arguments += [str(PACKAGE), str(tmp_path / "pycache")]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PACKAGE.parent,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, "modules that fail to import alone:\n" + "\n".join(
        f"{name}: {why}" for name, why in failures.items()
    )


def test_foundations_import_only_each_other() -> None:
    for name in FOUNDATIONS:
        assert imports_of(name) <= set(FOUNDATIONS), f"{name} imports {imports_of(name)}"
