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
