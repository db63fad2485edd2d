import pytest

from lib.embedded import EmbeddedServer, EmbeddedTokenizer


@pytest.fixture(scope="session")
def embedded_server():
    server = EmbeddedServer().ensure_running()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_tokenizer():
    return EmbeddedTokenizer()
