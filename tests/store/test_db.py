"""CONTEXT_LAB_DB as a URL (lib/db.py): a SQLite path or a PostgreSQL server, each through one engine
per process; the PostgreSQL side is a real server (the `postgres_server` fixture)."""

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lib.store import db, storage


def test_a_plain_path_is_a_sqlite_file(tmp_path):
    url = db.store_url(str(tmp_path / "a" / "lab.db"))
    assert url.kind == "sqlite" and url.sqlite_path == tmp_path / "a" / "lab.db"
    with db.engine(url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert (tmp_path / "a" / "lab.db").exists()


def test_a_postgresql_url_uses_psycopg_3_and_never_shows_its_password():
    url = db.store_url("postgresql://lab:s3cret-pass@db.internal:5432/context_lab")
    assert url.kind == "postgresql" and url.url.startswith("postgresql+psycopg://")
    assert "s3cret-pass" not in url.shown and "db.internal:5432/context_lab" in url.shown


@pytest.mark.parametrize(
    "value",
    ["postgresql://lab:hunter@2cret@db.internal:5432/lab", "postgresql://lab@azure:hunter@2cret@db.internal/lab"],
)
def test_an_unencoded_at_in_the_password_is_refused_without_showing_any_of_it(value):
    """Was: postgresql://lab:***@2cret@db.internal... (SQLAlchemy ends the password at its first '@')."""
    with pytest.raises(db.BadStoreUrl) as refused:
        db.store_url(value)
    message = str(refused.value)
    assert "%40" in message and "db.internal" in message  # how to write it, and which server
    assert "hunter" not in message and "2cret" not in message
    assert "2cret" not in storage.shown(value) and "hunter" not in storage.shown(value)


def test_an_encoded_at_in_the_password_is_read_and_masked():
    url = db.store_url("postgresql://lab:p%40ss@db.internal:5432/lab")
    assert make_url(url.url).password == "p@ss" and make_url(url.url).host == "db.internal"
    assert "p%40ss" not in url.shown and "ss" not in url.shown.split("@")[0]


@pytest.mark.parametrize("value", ["mysql://u:p@h/db", "mongodb://h/x", "postgresql://u:p@[::1"])
def test_a_store_this_app_cannot_use_is_named_and_refused(value):
    with pytest.raises(db.BadStoreUrl) as refused:
        db.store_url(value)
    assert "CONTEXT_LAB_DB" in str(refused.value) and ":p@" not in str(refused.value)


def test_a_real_postgresql_server_is_reached_through_one_pool(postgres_url):
    url = db.store_url(postgres_url)
    assert db.engine(url) is db.engine(db.store_url(postgres_url))  # one pool per process
    seen = []

    def query() -> None:
        with db.engine(url).connect() as conn:
            seen.append(conn.execute(text("SELECT current_database()")).scalar())

    threads = [threading.Thread(target=query) for _ in range(12)]  # more than the pool's size
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [postgres_url.rsplit("/", 1)[1]] * 12
    assert db.engine(url).pool.checkedout() == 0
    db.engine(url).dispose()


# --- the schema, on both backends (Alembic) --------------------------------------------------------

TABLES = {
    "sessions",
    "deleted_sessions",
    "calls",
    "comparisons",
    "compare_setups",
    "call_details",
    "experiment_sets",
    "experiment_runs",
    "experiment_cells",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request, tmp_path):
    if request.param == "sqlite":
        url = db.store_url(str(tmp_path / "lab.db"))
    else:
        url = db.store_url(request.getfixturevalue("postgres_url"))
    yield url
    db.engine(url).dispose()


def test_a_new_store_gets_every_table_once(empty_store):
    store = empty_store
    assert db.revision(store) is None
    assert db.upgrade(store) == "0004"
    assert db.upgrade(store) == "0004"  # a second start changes nothing
    from sqlalchemy import inspect

    names = set(inspect(db.engine(store)).get_table_names())
    assert names >= TABLES
    columns = {c["name"] for c in inspect(db.engine(store)).get_columns("sessions")}
    assert {"owner", "share_token", "version"} <= columns


def test_processes_starting_together_migrate_once(empty_store):
    store = empty_store  # replicas sharing PostgreSQL; or processes on one machine sharing a SQLite file
    results, errors = [], []

    def start() -> None:
        try:
            results.append(db.upgrade(store))
        except Exception as exc:  # whatever a replica hits is reported
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == ["0004"] * 4
    db.engine(store).dispose()


def test_a_sqlite_file_of_the_first_schema_upgrades_in_place_with_its_data(tmp_path):
    import json
    import sqlite3
    from contextlib import closing

    from lib.store import sqlite_migrations, storage
    from lib.store.session import Session, to_dict

    path = tmp_path / "old.db"
    old = Session("plain1", title="From the first schema")
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:  # as the app's first version made it
        sqlite_migrations.migrate(conn, 1)
        conn.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (old.id, old.title, old.label, 0, old.created_at, old.updated_at, json.dumps(to_dict(old))),
        )
    url = db.store_url(str(path))
    assert db.upgrade(url) == "0004"
    with storage.opened(path) as conn:
        assert conn.execute(text("SELECT MAX(version) FROM schema_migrations")).scalar() == 7
        assert storage.load_session(conn, "plain1").title == "From the first schema"
    db.forget(url)


def test_the_migrations_build_exactly_the_tables_schema_py_describes(empty_store):
    """lib/store/schema.py is kept in step with the revisions: a store they built has its columns, types,
    nullability and indexes, and nothing else (Alembic's own comparison, as `alembic check` makes it)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from lib.store.schema import metadata

    store = empty_store
    db.upgrade(store)
    with db.engine(store).connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
