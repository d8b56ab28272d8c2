"""Provider API keys: read from the environment or a secret file, never stored, and
redacted from any text that leaves the process (errors, logs, usage rows).

| source                              | example                                   |
|-------------------------------------|-------------------------------------------|
| environment variable                | ``ANTHROPIC_API_KEY=sk-ant-...``          |
| ``<VAR>_FILE`` environment variable | ``ANTHROPIC_API_KEY_FILE=/run/secrets/anthropic`` |
| ``api_key_file=`` backend option    | a path to a file holding only the key     |
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lmscape.errors import AuthenticationError

_known: set[str] = set()

# Shapes of provider keys, redacted even when they were never loaded by this process.
_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),  # OpenAI, Anthropic (sk-ant-...)
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"lms-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bBearer\s+[A-Za-z0-9_\-.]{6,}"),
)
REDACTED = "[redacted]"


def _remember(secret: str) -> str:
    if len(secret) >= 6:
        _known.add(secret)
    return secret


def provider_key(
    env_names: tuple[str, ...] | str,
    *,
    api_key_file: str | None = None,
    provider: str,
    required: bool = True,
) -> str | None:
    """The first key found in ``api_key_file``, ``$NAME`` or ``$NAME_FILE``."""
    names = (env_names,) if isinstance(env_names, str) else env_names
    if api_key_file:
        return _remember(_read_file(Path(api_key_file).expanduser(), provider))
    for name in names:
        value = os.environ.get(name)
        if value:
            return _remember(value.strip())
        path = os.environ.get(f"{name}_FILE")
        if path:
            return _remember(_read_file(Path(path).expanduser(), provider))
    if not required:
        return None
    raise AuthenticationError(
        f"no {provider} API key: none of {', '.join(names)} is set",
        hint=f"export {names[0]}=... or {names[0]}_FILE=/path/to/secret",
    )


def has_key(env_names: tuple[str, ...] | str) -> bool:
    """True when a key for one of ``env_names`` is available (no file read)."""
    names = (env_names,) if isinstance(env_names, str) else env_names
    return any(os.environ.get(n) or os.environ.get(f"{n}_FILE") for n in names)


def _read_file(path: Path, provider: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AuthenticationError(
            f"cannot read the {provider} API key file {path}: {exc.strerror}",
            hint="point the *_FILE variable or api_key_file at a readable file",
        ) from None
    if not value:
        raise AuthenticationError(
            f"the {provider} API key file {path} is empty", hint="write the key into the file"
        )
    return value


def redact(text: str, secret: str | None = None, *, mark: str = REDACTED) -> str:
    """``text`` with ``secret``, every known secret and every key-shaped string
    (bearer tokens included) replaced by ``mark``."""
    known = _known | {secret} if secret and len(secret) >= 4 else _known
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, mark)
    for pattern in _PATTERNS:
        text = pattern.sub(mark, text)
    return text
