"""The layering docs/ARCHITECTURE.md promises, checked on the source: lib decides, pages render.

- `lib` never imports `streamlit`, `ui` or `pages` (it runs, and is tested, without a page).
- A page never imports another page (shared rendering lives in `ui/`), nor a database library.
- A page file is its layout and reads in one sitting (at most PAGE_LINES lines): a part's drawing and
  callbacks live in `ui/<page>/` or `ui/<part>.py`, what anything means in `lib/`.
- `ui` never imports `pages`.
- No import cycle among the modules of `lib` and `ui`, counting the imports type hints make under
  `if TYPE_CHECKING:` (they never run, but a cycle they close is still two modules that each need the
  other to be understood: the layering is broken all the same).
- `lib`'s packages are floors, each importing only its own and lower ones (docs/ARCHITECTURE.md):
  core < context < backends < store < analysis.
- What differs between backends is asked of the backend object (lib/backends/kinds.py), never found by
  comparing a kind with a backend's name elsewhere.
Imports are read from the syntax tree, so an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in `path`, plus `pages` for `pages.x` imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("path", _sources("lib"), ids=lambda p: str(p.relative_to(ROOT)))
def test_lib_never_imports_streamlit_ui_or_pages(path):
    assert not _roots(_imports(path)) & {"streamlit", "ui", "pages"}


@pytest.mark.parametrize("path", _sources("pages"), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_never_imports_another_page(path):
    assert "pages" not in _roots(_imports(path))


@pytest.mark.parametrize("path", _sources("ui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_never_imports_a_page(path):
    assert "pages" not in _roots(_imports(path))


@pytest.mark.parametrize("path", _sources("pages"), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_draws_and_leaves_the_store_to_lib(path):
    """A page talks to no database (its failures are said by the store's own sentence, lib/store/storage),
    and reads session state only through ui/state.py's typed reads (never st.session_state itself)."""
    assert not _roots(_imports(path)) & {"sqlalchemy", "psycopg", "sqlite3", "alembic"}
    assert "session_state" not in path.read_text(encoding="utf-8")


# The longest page today is the chat's (~225 lines); Compare was 539 and Experiments 1,053 before
# their glue moved to ui/compare/ and ui/experiments/.
PAGE_LINES = 250


@pytest.mark.parametrize("path", _sources("pages"), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_file_reads_in_one_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_LINES, f"{path.name} is {lines} lines: move a part's glue to ui/, its decisions to lib/"


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text("def f():\n    import streamlit as st\n    from ui import state\n")
    assert _roots(_imports(hidden)) == {"streamlit", "ui"}


# payload.py asks the SDK (its signature, and a transport that sends nothing) for the order of the
# body's keys on the wire: an import of the client library, not a call through it.
INTROSPECTS = {"lib/context/payload.py": {"openai", "httpx2"}}
IO_MODULES = {
    "openai",
    "httpx",
    "httpx2",
    "sqlite3",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "subprocess",
    "socket",
    "urllib",
    "requests",
}


@pytest.mark.parametrize("path", _sources("lib/context"), ids=lambda p: str(p.relative_to(ROOT)))
def test_what_a_call_carries_is_decided_without_io(path):
    """lib/context is the pure core (its package docstring says so): no network, disk or process
    library, and nothing from the packages that do I/O (model facts and prices come from lib/core)."""
    imported = _imports(path)
    assert not _roots(imported) & IO_MODULES - INTROSPECTS.get(path.relative_to(ROOT).as_posix(), set())
    assert not {name for name in imported if name.startswith(("lib.store", "lib.analysis", "lib.backends"))}


def test_every_part_of_lib_is_a_package_that_says_what_it_holds():
    parts = sorted(p for p in (ROOT / "lib").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [p.name for p in parts] == ["analysis", "backends", "context", "core", "store"]
    assert not list((ROOT / "lib").glob("*.py"))  # no module left loose beside the packages
    for part in parts:
        assert ast.get_docstring(ast.parse((part / "__init__.py").read_text(encoding="utf-8")))


# --- no import cycles ---------------------------------------------------------------------------------


def _module_imports(tree: ast.AST) -> set[str]:
    """Every dotted name imported anywhere (at module level, in a function, under `if TYPE_CHECKING:`),
    with `from a import b` read as both `a` and `a.b` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _import_graph(root: Path, folders: tuple[str, ...] = ("lib", "ui")) -> dict[str, set[str]]:
    paths = [path for folder in folders for path in sorted((root / folder).rglob("*.py"))]
    modules = {path.relative_to(root).with_suffix("").parts: path for path in paths}
    names = {".".join(p[:-1] if p[-1] == "__init__" else p): path for p, path in modules.items()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        imported = _module_imports(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        graph[name] = {other for other in imported if other in names and other != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_among_lib_and_ui_modules():
    assert _cycles(_import_graph(ROOT)) == []


def test_the_cycle_check_sees_a_cycle_closed_inside_a_function_or_by_type_hints(tmp_path):
    (tmp_path / "ui").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "ui" / "a.py").write_text("from ui import b\n")
    (tmp_path / "ui" / "b.py").write_text("def f():\n    from ui.c import g\n")
    (tmp_path / "ui" / "c.py").write_text("import ui.a\n")
    (tmp_path / "lib" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lib import y\n"
    )
    (tmp_path / "lib" / "y.py").write_text("from lib.x import z\n")
    assert _cycles(_import_graph(tmp_path)) == [["lib.x", "lib.y"], ["ui.a", "ui.b", "ui.c"]]


# --- floors ----------------------------------------------------------------------------------------

# lib's packages, lowest first (docs/ARCHITECTURE.md, "Where things are"): the facts every floor needs;
# what a call carries; where it goes; what is kept; what is worked out from calls.
FLOORS = ("core", "context", "backends", "store", "analysis")


def _reaching_up(root: Path) -> list[str]:
    """Every import of a lib module from a higher floor than its own, as "importer -> imported"."""
    found = []
    for module, imported in sorted(_import_graph(root, ("lib",)).items()):
        floor = FLOORS.index(module.split(".")[1]) if module.count(".") else -1
        for other in sorted(imported):
            if other.count(".") and FLOORS.index(other.split(".")[1]) > floor:
                found.append(f"{module} -> {other}")
    return found


def test_the_floors_are_the_packages_of_lib():
    parts = {p.name for p in (ROOT / "lib").iterdir() if (p / "__init__.py").exists()}
    assert parts == set(FLOORS)


def test_no_package_of_lib_imports_a_higher_one():
    assert _reaching_up(ROOT) == []


def test_the_floor_check_sees_an_import_up_even_for_a_type_hint(tmp_path):
    for floor in FLOORS:
        (tmp_path / "lib" / floor).mkdir(parents=True)
        (tmp_path / "lib" / floor / "__init__.py").write_text("")
    (tmp_path / "lib" / "context" / "a.py").write_text("from lib.core import b\n")
    (tmp_path / "lib" / "core" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lib.backends.c import C\n"
    )
    (tmp_path / "lib" / "backends" / "c.py").write_text("def f():\n    from lib.analysis import d\n")
    (tmp_path / "lib" / "analysis" / "d.py").write_text("from lib.store import e\n")
    assert _reaching_up(tmp_path) == [
        "lib.backends.c -> lib.analysis",
        "lib.backends.c -> lib.analysis.d",
        "lib.core.b -> lib.backends.c",
    ]


# --- ask the backend object ------------------------------------------------------------------------

BACKEND_KINDS = frozenset({"embedded", "openai", "azure", "compatible"})


def _kind_comparisons(path: Path) -> list[str]:
    """Each comparison of something named `…kind` with a backend's name (`x.kind == "azure"`, `kind in
    ("embedded", …)`), as "line: source"."""
    source = path.read_text(encoding="utf-8")

    def is_kind(node: ast.expr) -> bool:
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
        return name.lower().endswith("kind")

    def names_a_backend(node: ast.expr) -> bool:
        values = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return any(isinstance(v, ast.Constant) and v.value in BACKEND_KINDS for v in values)

    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_kind(side) for side in sides) and any(names_a_backend(side) for side in sides):
                found.append(f"{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


KIND_OWNER = ROOT / "lib" / "backends" / "kinds.py"


@pytest.mark.parametrize(
    "path",
    [p for p in [*_sources("lib"), *_sources("ui"), *_sources("pages"), ROOT / "app.py"] if p != KIND_OWNER],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_what_differs_between_backends_is_asked_of_the_backend_object(path):
    """`config.backend.answers_one_at_a_time`, not `config.kind == "embedded"`: a fifth backend is one class."""
    assert _kind_comparisons(path) == []


def test_the_backend_check_sees_a_kind_compared_with_a_backend_name(tmp_path):
    code = tmp_path / "code.py"
    code.write_text(
        'if config.kind == "embedded":\n    pass\nx = kind in ("azure", "openai")\n'
        'y = "compatible" != spec.provider_kind\nz = m.encoding != "embedded"\nw = config.kind == other.kind\n'
    )
    assert _kind_comparisons(code) == [
        '1: config.kind == "embedded"',
        '3: kind in ("azure", "openai")',
        '4: "compatible" != spec.provider_kind',
    ]
