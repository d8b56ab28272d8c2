"""One rooted exception tree for lmscape.

Every error a user can cause carries a ``hint``: the one thing to do about it.
The CLI prints ``error: <message>`` and ``fix: <hint>`` on one line each, with no
traceback unless ``--debug`` is given.

    LmscapeError
     ├── ConfigError                 bad settings, environment or config file
     │    └── CatalogError           malformed catalog file (names file, entry, field)
     ├── NotFoundError               unknown model / backend / task / run / key
     ├── DataError                   unreadable data file, missing column, bad labels
     ├── StoreError                  database cannot be opened or migrated
     └── BackendError                anything raised while running a model
          ├── MissingDependencyError optional extra not installed (names the pip command)
          ├── ModelLoadError         missing weights, wrong file format
          ├── CapabilityError        backend cannot do that operation (no loglikelihood…)
          ├── ContextLengthError     prompt longer than the model's context window
          └── ProviderError          remote endpoint failed
               ├── ConnectionFailedError  endpoint unreachable
               ├── AuthenticationError    key missing or rejected
               ├── RateLimitError         429 after retries
               └── UpstreamError          5xx / timeout after retries
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LmscapeError(Exception):
    """Root of every lmscape error. ``hint`` says how to fix it."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """The message and the fix, for the CLI."""
        if self.hint:
            return f"{self.message} (fix: {self.hint})"
        return self.message

    def __reduce__(self):
        # Errors cross process boundaries (Ray workers hand them back to the runner):
        # rebuild from the fields, whatever arguments a subclass's __init__ takes.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[LmscapeError], args: tuple, state: dict) -> LmscapeError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class ConfigError(LmscapeError):
    """Settings, environment variables or a config file are wrong."""


class CatalogError(ConfigError):
    """A catalog file is malformed. Carries the file, the entry and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        entry: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"entry {entry!r}" if entry else "",
                f"field {field!r}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file, self.entry, self.field = file, entry, field


class NotFoundError(LmscapeError):
    """An unknown name. Suggests the closest known names."""

    def __init__(
        self,
        kind: str,
        name: str,
        known: Iterable[str] = (),
        *,
        hint: str | None = None,
    ) -> None:
        known = list(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        if not close:
            lowered = name.lower()
            close = [k for k in known if lowered in k.lower()][:3]
        message = f"unknown {kind} {name!r}"
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        super().__init__(message, hint=hint)
        self.kind, self.name, self.suggestions = kind, name, close


class DataError(LmscapeError):
    """A data file cannot be used as given."""


class StoreError(LmscapeError):
    """The database cannot be opened, migrated or written."""


class BackendError(LmscapeError):
    """Raised while loading or running a model."""


class MissingDependencyError(BackendError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed",
            hint=f"pip install 'lmscape[{extra}]'",
        )
        self.package, self.extra = package, extra


class ModelLoadError(BackendError):
    """Weights missing, unreadable or in the wrong format."""


class CapabilityError(BackendError):
    """The backend does not support the requested operation."""


class ContextLengthError(BackendError):
    """The prompt does not fit the model's context window."""

    def __init__(self, n_tokens: int, n_ctx: int, *, model: str = "") -> None:
        who = f" of {model}" if model else ""
        super().__init__(
            f"prompt is {n_tokens} tokens but the context window{who} is {n_ctx}",
            hint="shorten the prompt, lower max_tokens, or raise n_ctx",
        )
        self.n_tokens, self.n_ctx = n_tokens, n_ctx


class ProviderError(BackendError):
    """A remote endpoint failed."""

    status_code: int | None = None


class ConnectionFailedError(ProviderError):
    """The endpoint could not be reached."""


class AuthenticationError(ProviderError):
    """The API key is missing or was rejected."""


class RateLimitError(ProviderError):
    """The endpoint kept answering 429."""


class UpstreamError(ProviderError):
    """The endpoint kept failing (5xx or timeout)."""


def require(module: str, *, package: str | None = None, extra: str):
    """Import an optional dependency or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised when extras are absent
        raise MissingDependencyError(package or module, extra) from exc
