import gc
import os
import uuid
from collections.abc import Iterator

import coverage
import pytest
from hypothesis import settings

from lib.backends.embedded import EmbeddedServer, EmbeddedTokenizer

# How many cases each property test generates: `make test` (and CI) runs the `ci` profile, `make test-fast`
# the `fast` one (HYPOTHESIS_PROFILE, set in the Makefile); `thorough` is for a deliberate long search.
# The count was 1,000 everywhere: half of the fast suite's CPU went to generating cases (issue 27).
# No deadline: on a loaded machine a case's time says nothing about the code.
settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    """`make test` runs the suite on one pytest-xdist worker per core (`-n auto`): each worker is pinned to
    a core of its own, and what it starts (the embedded server, the scorer, an app process, Chromium)
    inherits the pin, so the model runs on as many llama.cpp threads as the worker has cores
    (`usable_cores`). Unpinned, two workers' servers each took every core: llama.cpp's threads wait
    for each other at every step, and a thread without a core stalls them all."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if count > len(cores):
        return  # more workers than cores: pinning would stack some on one core
    core = cores[int(worker[2:]) % len(cores)]
    for thread in os.listdir("/proc/self/task"):  # every thread the worker has so far, not only this one
        os.sched_setaffinity(int(thread), {core})


@pytest.fixture(autouse=True)
def session_db(tmp_path, monkeypatch):
    """Every test saves sessions and calls to a database of its own, never to ./data; its pooled
    connections are closed after it."""
    from lib.store import db

    path = tmp_path / "context_lab.db"
    monkeypatch.setenv("CONTEXT_LAB_DB", str(path))
    yield path
    db.forget(db.store_url(str(path)))


@pytest.fixture(autouse=True, scope="module")
def collected_after_each_file() -> Iterator[None]:
    """A cycle collection once a file's tests and fixtures are done: a socket or file a test left open
    (an `openai` client refers to itself, so it waits for the cycle collector) is reported, as an error
    (warnings are errors), in the teardown of the file that left it — not in whichever test the
    collector next ran in, which changed with the order the files were handed out (issue 27).
    ~50 ms a file."""
    yield
    gc.collect()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, monkeypatch):
    """The store a storage test runs on, once per backend: a SQLite file, then a database of its own
    on a real PostgreSQL server, already at the newest schema (the `postgres_store` fixture).
    CONTEXT_LAB_DB names it, so `storage.opened()` opens it; yields its URL."""
    from lib.store import db

    value = str(tmp_path / "store.db") if request.param == "sqlite" else request.getfixturevalue("postgres_store")
    monkeypatch.setenv("CONTEXT_LAB_DB", value)
    yield value
    db.forget(db.store_url(value))


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL cluster for the test run (tests/postgres.py), stopped at its end."""
    from tests.postgres import pg_bin, running_postgres

    if pg_bin() is None:
        message = "PostgreSQL not found: `apt-get install postgresql` (Debian) enables the PostgreSQL tests"
        if os.environ.get("CONTEXT_LAB_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    with running_postgres() as url:
        yield url


def _new_database(server: str) -> Iterator[str]:
    """A new, empty database on the run's cluster; yields its URL, drops it after."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database on the run's cluster for one test (what a migration test starts from);
    dropped after."""
    yield from _new_database(postgres_server)


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server):
    """A database migrated to the newest revision once per run; yields its URL and its tables."""
    import psycopg

    from lib.store import db

    for url in _new_database(postgres_server):
        store = db.store_url(url)
        db.upgrade(store)
        db.forget(store)
        with psycopg.connect(url) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        yield url, tables


@pytest.fixture
def postgres_store(postgres_migrated):
    """A PostgreSQL store for one test, at the newest schema and empty: the run's migrated database,
    every table but Alembic's emptied before the test (identities restarted), as a new database the app
    migrated on first use would be. Making and migrating a database per test was a second or two of
    each PostgreSQL test; emptying one takes a tenth of that (issue 27). The tests that migrate a new
    database take `postgres_url`."""
    import psycopg

    url, tables = postgres_migrated
    with psycopg.connect(url, autocommit=True) as conn:
        # Whatever the last test left connected (its pool is closed by then) must not block the TRUNCATE.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        found = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert found == tables, f"a test changed the shared PostgreSQL store's tables: {sorted(found ^ tables)}"
        emptied = ", ".join(f'"{name}"' for name in sorted(tables - {"alembic_version"}))
        conn.execute(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
    yield url


@pytest.fixture(scope="session")
def embedded_server():
    server = EmbeddedServer().ensure_running()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_tokenizer():
    return EmbeddedTokenizer()


# The coverage of lib/ (`make test`'s floor) is traced in the tests of lib/, not in the AppTests and
# the browser tests: under Python 3.11's tracer every call Streamlit and Playwright make reports to
# coverage (an AppTest file ran 46 % longer, the app's tests 89 test-seconds of a run, the browser tests
# 46), and the browser tests reach 7 lines of lib/ no other test does. Not tracing them can only lower
# the figure the floor is held against: a line of lib/ counts as covered when a test of lib/ runs it.
UNTRACED = ("/tests/app/", "/tests/e2e/")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # The tracing collector is paused, not the Coverage object stopped (`Coverage.stop`, pytest-cov's
    # `no_cover`): an xdist worker holds two Coverage objects, and stopping the newer one hands the tracing
    # to the older one, which goes on tracing every call (measured: no time saved). Coverage has no public
    # pause; tests/app/test_untraced.py and tests/test_coverage_scope.py check both halves.
    running = coverage.Coverage.current()
    tracing = getattr(running, "_collector", None) if any(part in str(item.path) for part in UNTRACED) else None
    if tracing is not None:
        tracing.pause()
    try:
        yield
    finally:
        if tracing is not None:
            tracing.resume()


def pytest_collection_modifyitems(items):
    """`make test-fast` runs `-m "not slow"`: whatever starts the model's server, the app or a browser is slow,
    marked here so no test file can forget it.

    Then the files are put in the order pytest-xdist hands them out (`--no-loadscope-reorder`, Makefile):
    the browser tests' files first, then the other slow ones, then the rest. pytest-xdist's own order
    (most tests first) left the browser tests, few to a file and long, for last: one worker ended on
    the longest of them while the other had nothing left (43 s apart in a whole run, issue 27).
    Handed out last, the many short files even out the two workers' ends."""
    for item in items:
        path = str(item.path)
        if "embedded_server" in getattr(item, "fixturenames", ()) or "/tests/app/" in path or "/tests/e2e/" in path:
            item.add_marker(pytest.mark.slow)
    rank: dict[str, int] = {}
    for item in items:
        path = str(item.path)
        kind = 0 if "/tests/e2e/" in path else 1 if item.get_closest_marker("slow") else 2
        rank[path] = min(rank.get(path, kind), kind)
    items.sort(key=lambda item: rank[str(item.path)])  # stable: a file's tests, and files alike, keep their order
