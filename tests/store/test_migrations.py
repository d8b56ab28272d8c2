import sqlalchemy as sa

from lmscape.store import migrations, open_store
from lmscape.store.schema import migrations_table


def _snapshot(engine):
    insp = sa.inspect(engine)
    tables = sorted(insp.get_table_names())
    cols = {t: sorted(c["name"] for c in insp.get_columns(t)) for t in tables}
    with engine.connect() as conn:
        names = sorted(r[0] for r in conn.execute(sa.select(migrations_table.c.name)))
    return tables, cols, names


def test_default_store_is_sqlite_wal_under_home(lmscape_home):
    store = open_store()
    assert store.is_sqlite
    assert (lmscape_home / "lmscape.db").exists()
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_migrations_applied_twice_change_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    first = open_store(url)
    before = _snapshot(first.engine)
    assert {"runs", "results", "cache"} <= set(before[0])
    assert migrations.apply(first.engine) == []
    second = open_store(url)
    assert _snapshot(second.engine) == before
    first.close()
    second.close()


def test_migrations_on_postgres_are_idempotent(fresh_postgres):
    store = open_store(fresh_postgres)
    before = _snapshot(store.engine)
    assert migrations.apply(store.engine) == []
    assert _snapshot(store.engine) == before
    store.close()


def test_lmscape_db_env_selects_url(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("LMSCAPE_DB", f"sqlite:///{target}")
    open_store().close()
    assert target.exists()
