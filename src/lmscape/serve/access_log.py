"""Logs without credentials: every line the gateway's loggers write (uvicorn's access
log included) passes through :class:`RedactingFilter` first.

A client may put a key anywhere: ``?api_key=lms-...`` or ``?key=...`` in the query
string, a bearer token in a path. The filter rewrites the log record's message and
arguments before any handler formats them:

- the value of a query parameter named like a credential (``api_key``, ``api-key``,
  ``apikey``, ``key``, ``token``, ``access_token``, ``secret``, ``password``,
  ``authorization``, ``auth``) becomes ``[redacted]``;
- then :func:`lmscape.backends.secrets.redact` removes every key-shaped string
  (``lms-...``, ``sk-...``, ``Bearer ...``) and every provider key this process read.

uvicorn never logs request headers, so ``Authorization`` reaches a log only if someone
copies it into a message, which the second rule covers.
"""

from __future__ import annotations

import logging
import re

from lmscape.backends.secrets import REDACTED, redact

LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "lmscape.serve")

_CREDENTIAL_PARAM = re.compile(
    r"(?i)((?:^|[?&;])(?:api[-_]?key|key|token|access[-_]?token|secret|password|"
    r"authorization|auth)=)[^&;#\s\"']*"
)


def redact_line(text: str) -> str:
    """``text`` with credential query values and key-shaped strings replaced."""
    return redact(_CREDENTIAL_PARAM.sub(r"\1" + REDACTED, text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and string arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_line(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_line(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_line(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Put the filter on the gateway's loggers (idempotent; call again after
    ``logging.config`` rebuilt them, as uvicorn does when it starts)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
