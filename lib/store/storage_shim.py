"""SHIM, TO BE DROPPED AT MERGE (branch pg-exp). The experiments code (lib/analysis/experiments/store.py,
runner.py, pages/experiments.py and their tests) already takes a `sqlalchemy.Connection`; until
lib/store/storage.py is ported (another helper, in parallel), this module stands in for the names of it
that they use, with the port's promised behaviour: `opened(where)` / `connect(where)` yield a plain
`sqlalchemy.Connection` on the store `where` names (a path or a URL; CONTEXT_LAB_DB by default), and the
run log's `record_call` / `calls` take one. At merge: replace `storage_shim as storage` by `storage`
(`grep -rn storage_shim`), then delete this file.

Until then the rest of the app still opens a SQLite file with the old storage (its own migrations and
`schema_migrations`): a file this module makes first gets those, then Alembic's stamp (db.upgrade), so
both see it as theirs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from sqlalchemy import Connection

from lib.store import db, sql_store, storage
from lib.store.storage import DEFAULT_PATH, ENV_VAR, CallRecord, db_path

__all__ = ["DEFAULT_PATH", "ENV_VAR", "CallRecord", "calls", "connect", "db_path", "opened", "record_call", "url_of"]

_UPGRADED: set[db.StoreUrl] = set()
_LOCK = threading.Lock()


def url_of(where: str | Path | None = None) -> db.StoreUrl:
    return db.store_url(str(where) if where else os.environ.get(ENV_VAR) or str(DEFAULT_PATH))


def connect(where: str | Path | None = None) -> Connection:
    url = url_of(where)
    with _LOCK:
        if url not in _UPGRADED:
            if url.sqlite_path is not None:
                with closing(storage.connect(url.sqlite_path)):
                    pass
            db.upgrade(url)
            _UPGRADED.add(url)
    return db.engine(url).connect()


@contextmanager
def opened(where: str | Path | None = None) -> Iterator[Connection]:
    with connect(where) as conn:
        yield conn


record_call = sql_store.record_call
calls = sql_store.calls
