"""Gateway-key authentication with a short-lived in-memory cache.

A presented key is hashed and looked up in the store; the answer (the key's id,
limits and allowed models) is cached for ``key_cache_ttl_s`` seconds so that the hot
path makes no database read. The cache is dropped whenever a
:class:`~lmscape.serve.revocation.KeyWatch` says the keys changed in another process,
so a revoked key stops working at the next request on SQLite, as soon as the
notification arrives on PostgreSQL, and within the TTL elsewhere (the table in
:mod:`lmscape.serve.revocation`). Keys with a budget are refused at once everywhere:
their reservation checks ``revoked_at`` in the database.

Open access: when the store holds no active key, the gateway listens on loopback only
and ``--require-key`` was not given, requests without a key are served (and their
usage recorded with no key). The "are there keys?" answer is cached the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lmscape.serve import keys as keystore
from lmscape.serve.errors import GatewayError
from lmscape.serve.keys import KeyInfo
from lmscape.serve.revocation import KeyWatch
from lmscape.store import Store


def _unauthorized(message: str) -> GatewayError:
    """A 401; ``message`` is fixed text plus at most a key's displayed prefix."""
    return GatewayError(401, message, type="authentication_error", code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"}, trusted=True)


class Authenticator:
    def __init__(self, store: Store, *, allow_open: bool, ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 watch: KeyWatch | None = None) -> None:
        self._store = store
        self._allow_open = allow_open
        self._ttl = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, KeyInfo | None]] = {}
        self._open_until = 0.0
        self._open = False
        self._watch = watch or KeyWatch()
        self._generation = self._watch.generation()

    def _fresh(self) -> None:
        """Drop every cached answer if the keys changed since they were cached."""
        generation = self._watch.generation()
        if generation != self._generation:
            self._generation = generation
            self._cache.clear()
            self._open_until = 0.0

    def close(self) -> None:
        self._watch.close()

    def open_access(self) -> bool:
        """True when requests without a key are served now."""
        if not self._allow_open:
            return False
        now = self._clock()
        if now >= self._open_until:
            self._open = keystore.count_active(self._store) == 0
            self._open_until = now + self._ttl
        return self._open

    def lookup(self, secret: str) -> KeyInfo | None:
        now = self._clock()
        hit = self._cache.get(secret)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = keystore.find_by_secret(self._store, secret)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[secret] = (now + self._ttl, info)
        return info

    def cached(self, authorization: str | None) -> bool:
        """True when :meth:`authenticate` will not touch the database."""
        self._fresh()
        now = self._clock()
        if not authorization:
            return not self._allow_open or now < self._open_until
        hit = self._cache.get(_secret(authorization))
        return hit is not None and hit[0] > now

    def authenticate(self, authorization: str | None) -> KeyInfo | None:
        """The caller's key (None under open access) or a 401."""
        self._fresh()
        if not authorization:
            if self.open_access():
                return None
            raise _unauthorized(
                "You didn't provide an API key. Send 'Authorization: Bearer lms-...' "
                "(create one with `lmscape keys create --name NAME`)."
            )
        secret = _secret(authorization)
        info = self.lookup(secret) if secret else None
        if info is None:
            if self.open_access() and not secret.startswith(keystore.KEY_PREFIX):
                return None  # open access: placeholder keys such as "EMPTY" are fine
            raise _unauthorized("Incorrect API key provided.")
        if not info.active:
            raise _unauthorized(f"The API key {info.prefix}... has been revoked.")
        return info


def _secret(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else authorization.strip()
