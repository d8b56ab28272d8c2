"""Database access (SQLAlchemy Core) and named migrations."""

from lmscape.store.db import Store, open_store

__all__ = ["Store", "open_store"]
