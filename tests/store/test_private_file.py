"""A new SQLite store is readable by its owner only: it holds gateway key hashes and
usage (and SQLite gives its -wal and -shm files the same mode)."""

from __future__ import annotations

import os
import stat

from lmscape.serve.keys import create_key
from lmscape.store import open_store


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_database_and_its_wal_are_0600(tmp_path):
    old = os.umask(0o022)  # the usual umask, which made the file 0644
    try:
        db = tmp_path / "home" / "lmscape.db"
        store = open_store(f"sqlite:///{db}")
        create_key(store, "k")  # a write: the -wal and -shm files exist now
        files = [p for p in db.parent.iterdir() if p.name.startswith("lmscape.db")]
        assert {p.name for p in files} >= {"lmscape.db", "lmscape.db-wal", "lmscape.db-shm"}
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        store.close()
    finally:
        os.umask(old)


def test_an_existing_database_keeps_its_mode(tmp_path):
    db = tmp_path / "shared.db"
    open_store(f"sqlite:///{db}").close()
    os.chmod(db, 0o640)  # its owner chose to share it with a group
    open_store(f"sqlite:///{db}").close()
    assert _mode(db) == 0o640
