"""The layering docs/ARCHITECTURE.md promises, checked on the source: lib decides, pages render.

- `lib` never imports `streamlit`, `ui` or `pages` (it runs, and is tested, without a page).
- A page never imports another page (shared rendering lives in `ui/`).
- `ui` never imports `pages`.
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


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text("def f():\n    import streamlit as st\n    from ui import state\n")
    assert _roots(_imports(hidden)) == {"streamlit", "ui"}


# payload.py asks the SDK (its signature, and a transport that sends nothing) for the order of the
# body's keys on the wire: an import of the client library, not a call through it.
INTROSPECTS = {"lib/context/payload.py": {"openai", "httpx2"}}
IO_MODULES = {"openai", "httpx", "httpx2", "sqlite3", "subprocess", "socket", "urllib", "requests", "psycopg"}


@pytest.mark.parametrize("path", _sources("lib/context"), ids=lambda p: str(p.relative_to(ROOT)))
def test_what_a_call_carries_is_decided_without_io(path):
    """lib/context is the pure core (its package docstring says so): no network, disk or process
    library, and nothing from the packages that do I/O except model facts and prices (bundled data)."""
    imported = _imports(path)
    assert not _roots(imported) & IO_MODULES - INTROSPECTS.get(path.relative_to(ROOT).as_posix(), set())
    reaching = {name for name in imported if name.startswith(("lib.store", "lib.analysis", "lib.backends"))}
    assert reaching <= {"lib.backends.models", "lib.backends.prices"}


def test_every_part_of_lib_is_a_package_that_says_what_it_holds():
    parts = sorted(p for p in (ROOT / "lib").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [p.name for p in parts] == ["analysis", "backends", "context", "store"]
    assert not list((ROOT / "lib").glob("*.py"))  # no module left loose beside the packages
    for part in parts:
        assert ast.get_docstring(ast.parse((part / "__init__.py").read_text(encoding="utf-8")))
