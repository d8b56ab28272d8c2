"""Where a remote model is reached, and with which key: one rule for every backend.

A remote backend class declares its provider's facts as class attributes
(``key_env``, ``base_url_env``, ``default_base_url``, ``wire``); :func:`connect`
turns them, the model's options and an explicit base URL into a :class:`Connection`.
The resolver, the backend's own constructor and the gateway all ask this one function,
so a third-party backend declares these facts on its class and nowhere else.

The base URL comes from, in order:

| source                                   | example                                          |
|------------------------------------------|--------------------------------------------------|
| an explicit base URL                     | ``openai:MODEL@http://host:8000/v1``, ``--base-url``, ``base_url=`` |
| the ``base_url`` option                  | a catalog run spec or a gateway config entry     |
| the variable named by ``base_url_env``   | ``LMSCAPE_VLLM_BASE_URL`` (a self-hosted endpoint; unset means "not configured") |
| the SDK's own variable                   | ``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``      |
| the provider's default                   | ``https://api.openai.com/v1``                    |

The key comes from the ``api_key`` / ``api_key_file`` options or the first variable of
``api_key_env`` (default: the class's ``key_env``) that is set, or its ``*_FILE`` twin
(:mod:`lmscape.backends.secrets`). Loopback endpoints need no key.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from lmscape.backends.secrets import has_key, provider_key
from lmscape.errors import ConfigError


def is_loopback_host(host: str) -> bool:
    """True for localhost, ``*.localhost``, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback(url: str) -> bool:
    """True when ``url`` (http(s)://HOST...) points at this machine."""
    return is_loopback_host(urlparse(url).hostname or "")


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Connection:
    """An endpoint and where its key comes from (never the key itself).

    ``base_url`` is None where the SDK's built-in default applies and no URL is
    known; ``configured`` is False when the model names an endpoint variable
    (``base_url_env``) that is not set here.
    """

    provider: str  # the backend name: openai, anthropic, google, ...
    base_url: str | None
    base_url_from: str  # "explicit" | "option" | "env:NAME" | "default" | "unset:NAME"
    key_env: tuple[str, ...]
    key_file: str | None = None
    inline_key: bool = False  # an api_key option was given
    wire: str | None = None  # protocol the gateway may pass JSON through ("openai")
    sdk_base_url_env: str | None = None  # the SDK's own variable (OPENAI_BASE_URL)

    @property
    def loopback(self) -> bool:
        return self.base_url is not None and is_loopback(self.base_url)

    @property
    def configured(self) -> bool:
        return not self.base_url_from.startswith("unset:")

    @property
    def self_hosted(self) -> bool:
        """The endpoint comes from the model's own ``base_url_env`` (a vLLM node, say):
        such endpoints may run without a key."""
        return self.base_url_from.startswith("env:") and self.base_url_from != (
            f"env:{self.sdk_base_url_env}")

    @property
    def needs_key(self) -> bool:
        return not self.loopback and not self.self_hosted

    def has_key(self) -> bool:
        """A key is available (no file is read)."""
        return self.inline_key or bool(self.key_file) or has_key(self.key_env)

    def ready(self) -> tuple[bool, str]:
        """(usable here, why not)."""
        if not self.configured:
            var = self.base_url_from.split(":", 1)[1]
            return False, f"its endpoint variable {var} is not set"
        if self.needs_key and not self.has_key():
            names = ", ".join(self.key_env) or "an api_key option"
            return False, f"no API key ({names})"
        return True, ""

    def require_configured(self, model: str) -> str | None:
        """The base URL, or a ConfigError naming the variable to set."""
        if not self.configured:
            var = self.base_url_from.split(":", 1)[1]
            raise ConfigError(
                f"{model} is served from the endpoint in {var}, which is not set",
                hint=f"export {var}=http://HOST:PORT/v1 (e.g. a vLLM server), or pass "
                f"--base-url / {self.provider}:{model}@http://HOST:PORT/v1",
            )
        return self.base_url

    def api_key(self, options: Mapping[str, Any] | None = None) -> str | None:
        """The key (from ``api_key``, a key file or the environment); None on loopback
        endpoints without one; AuthenticationError naming the variable otherwise."""
        inline = (options or {}).get("api_key")
        if inline:
            return str(inline)
        return provider_key(self.key_env or (f"{self.provider.upper()}_API_KEY",),
                            api_key_file=self.key_file, provider=self.provider,
                            required=self.needs_key)


def connect(backend_cls: type, options: Mapping[str, Any], base_url: str | None = None
            ) -> Connection | None:
    """The connection of a model served by ``backend_cls`` (None for local backends)."""
    if getattr(backend_cls, "is_local", False) is True:
        return None
    name = str(getattr(backend_cls, "name", "remote"))
    url_from = "explicit"
    url = base_url
    if not url and options.get("base_url"):
        url, url_from = str(options["base_url"]), "option"
    if not url and options.get("base_url_env"):
        var = str(options["base_url_env"])
        url = os.environ.get(var) or None
        url_from = f"env:{var}" if url else f"unset:{var}"
    sdk_var = getattr(backend_cls, "base_url_env", None)
    if not url and not url_from.startswith("unset:") and sdk_var and os.environ.get(sdk_var):
        url, url_from = os.environ[sdk_var], f"env:{sdk_var}"
    if not url and not url_from.startswith("unset:"):
        url, url_from = getattr(backend_cls, "default_base_url", None), "default"
    key_env = _names(options.get("api_key_env")) or _names(getattr(backend_cls, "key_env", ()))
    return Connection(
        provider=name,
        base_url=url.rstrip("/") if url else None,
        base_url_from=url_from,
        key_env=key_env,
        key_file=str(options["api_key_file"]) if options.get("api_key_file") else None,
        inline_key=bool(options.get("api_key")),
        wire=getattr(backend_cls, "wire", None),
        sdk_base_url_env=sdk_var,
    )
