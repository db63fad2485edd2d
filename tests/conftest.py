import pytest

from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer


@pytest.fixture(autouse=True)
def session_db(tmp_path, monkeypatch):
    """Every test saves sessions and calls to a database of its own, never to ./data."""
    path = tmp_path / "context_lab.db"
    monkeypatch.setenv("CONTEXT_LAB_DB", str(path))
    return path


@pytest.fixture(scope="session")
def embedded_server():
    server = EmbeddedServer().ensure_running()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_tokenizer():
    return EmbeddedTokenizer()


def pytest_collection_modifyitems(items):
    """`make test-fast` runs `-m "not slow"`: whatever starts the model's server, the app or a browser is slow,
    marked here so no test file can forget it."""
    for item in items:
        path = str(item.path)
        if "embedded_server" in getattr(item, "fixturenames", ()) or "/tests/app/" in path or "/tests/e2e/" in path:
            item.add_marker(pytest.mark.slow)
