"""Invalid requests as one clear 400: the request field at fault, and what is wrong.

pydantic reports a failed union once per alternative, with the alternative's internal
name in the location (``messages.0.content.constrained-str``) and its message ("Input
should be a valid string") even when the value *was* a list, just too long. This module
turns that into what a client can act on:

- ``param`` names the request field: ``messages[0].content``, ``input``, ``temperature``;
  internal alternative names never appear;
- when one alternative had the right type and failed on its value (too long, out of
  range), that failure is the message: ``'input': List should have at most 2048 items``;
- when the type fits no alternative, the message says what was sent and what is
  accepted: ``'input' must be a string or a list of strings; got a list of integers``;
- a body that is not JSON, not UTF-8, or nested too deeply is always ``invalid_json``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

from lmscape.serve.errors import GatewayError

_TYPE_WORDS = {
    "string_type": "a string", "list_type": "a list", "int_type": "an integer",
    "int_parsing": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "a boolean", "bool_parsing": "a boolean", "model_type": "an object",
    "model_attributes_type": "an object", "dict_type": "an object", "none_required": "null",
    "literal_error": None, "missing": None,
}


def _is_field(part: Any) -> bool:
    """A location part that names a request field or index, not a union alternative."""
    return isinstance(part, int) or (isinstance(part, str) and part.isidentifier()
                                     and part not in _ALTERNATIVE_NAMES)


# pydantic's names for union alternatives that look like identifiers
_ALTERNATIVE_NAMES = {"str", "int", "float", "bool", "none", "list", "dict", "bytes"}


def _split(loc: tuple) -> tuple[list, str | None, list]:
    """(field path before the first union alternative, that alternative, the rest)."""
    parts = [p for p in loc if p != "body"] if loc and loc[0] == "body" else list(loc)
    for i, part in enumerate(parts):
        if not _is_field(part):
            return parts[:i], str(part), parts[i + 1:]
    return parts, None, []


def param_name(path: list) -> str | None:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _alternative_words(tag: str) -> str:
    """``list[constrained-str]`` -> "a list of strings"; ``constrained-str`` -> "a string"."""
    tag = tag.replace("constrained-", "")
    if tag.startswith("list["):
        inner = _alternative_words(tag[5:-1])
        return "a list of " + (inner.split(" ", 1)[1] + "s" if " " in inner else inner)
    if tag.startswith("literal["):
        return "one of " + tag[8:-1]
    words = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
             "none": "null", "dict": "an object"}
    return words.get(tag, "an object" if tag[:1].isupper() else tag)


def _describe(value: Any) -> str:
    """What a JSON value is, in words ("an integer", "a list of strings")."""
    word = _SINGULAR.get(type(value))
    if word is not None:
        return word
    if isinstance(value, list):
        kinds = {_PLURAL.get(type(v), "values") for v in value}
        if not kinds:
            return "an empty list"
        return f"a list of {kinds.pop()}" if len(kinds) == 1 else "a list of mixed values"
    return type(value).__name__


_SINGULAR = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
             str: "a string", dict: "an object"}
_PLURAL = {str: "strings", int: "integers", float: "numbers", bool: "booleans", list: "lists",
           dict: "objects", type(None): "nulls"}


def request_error(errors: list[dict]) -> GatewayError:
    """The one 400 to answer for pydantic's ``errors`` (see the module docstring)."""
    if not errors:
        return GatewayError(400, "The request body is not valid.", code="invalid_value")
    if any(e.get("type") == "json_invalid" for e in errors):
        return invalid_json("it is not valid JSON")
    first_path, _, _ = _split(tuple(errors[0].get("loc", ())))
    group = [e for e in errors if _split(tuple(e.get("loc", ())))[0] == first_path]
    param = param_name(first_path)
    where = f"'{param}'" if param else "The request body"
    missing = next((e for e in group if e.get("type") == "missing"), None)
    if missing is not None and len(group) == 1:
        return GatewayError(400, f"Missing required parameter: {where}.", param=param,
                            code="missing_required_parameter")
    # an alternative of the right type that failed on its value says the most
    by_value = [e for e in group if e.get("type") not in _TYPE_WORDS]
    if by_value:
        err = by_value[0]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        _, _, rest = _split(tuple(err.get("loc", ())))
        inner = param_name([p for p in rest if _is_field(p)])
        at = f" (at {param}{'' if inner is None or inner.startswith('[') else '.'}{inner})" \
            if inner else ""
        return GatewayError(400, f"Invalid value for {where}: {msg}{at}.",
                            param=param, code="invalid_value")
    tags = [t for t in (_split(tuple(e.get("loc", ())))[1] for e in group) if t]
    if tags:
        accepted = list(dict.fromkeys(_alternative_words(t) for t in tags))
        value = next((e["input"] for e in group
                      if "input" in e and _split(tuple(e.get("loc", ())))[2] == []), None)
        got = f"; got {_describe(value)}" if value is not None else ""
        return GatewayError(400, f"{where} must be {' or '.join(accepted)}{got}.",
                            param=param, code="invalid_type")
    err = group[0]
    got = f"; got {_describe(err['input'])}" if "input" in err else ""
    return GatewayError(400, f"Invalid value for {where}: {err.get('msg', 'invalid')}{got}.",
                        param=param, code="invalid_value")


def invalid_json(why: str) -> GatewayError:
    return GatewayError(400, f"We could not parse the JSON body of your request: {why}.",
                        code="invalid_json", trusted=True)


def body_parse_error(exc: HTTPException) -> GatewayError | None:
    """FastAPI's "There was an error parsing the body" (400) as ``invalid_json``, with
    the reason: not UTF-8, nested too deeply, or not JSON."""
    if exc.status_code != 400:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return invalid_json("it is not valid UTF-8")
    if isinstance(cause, RecursionError):
        return invalid_json("it is nested too deeply")
    if isinstance(cause, json.JSONDecodeError | ValueError):
        return invalid_json("it is not valid JSON")
    return None
