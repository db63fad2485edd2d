import pytest

from lib.embedded import EmbeddedServer, EmbeddedTokenizer


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
