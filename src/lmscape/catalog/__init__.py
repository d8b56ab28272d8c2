"""The cited model catalog: facts about each model (access, licence, parameters,
context, prices, published scores, how to run it), each with its source and date, plus
hardware fit.

    from lmscape.catalog import load_catalog
    cat = load_catalog()                  # built-in + $LMSCAPE_HOME/catalog.yaml
    entry = cat.get("gpt-4o")             # by id or alias
    entry.price.input_per_mtok, entry.price.source
    cat.hardware("h100-80gb").usd_per_hour   # on-demand hosting price, with its source

Importing this package is cheap: PyYAML and pydantic only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names resolve on first use (PEP 562), so importing `lmscape.catalog.hardware` for the
# `fit` help text does not build the pydantic schema.
_EXPORTS = {
    "Arch": "schema",
    "Fact": "schema",
    "HardwareEntry": "schema",
    "HostingPrice": "schema",
    "Lineage": "schema",
    "ModelEntry": "schema",
    "Price": "schema",
    "RunRecipe": "schema",
    "Score": "schema",
    "Throughput": "schema",
    "Catalog": "queries",
    "format_count": "queries",
    "parse_count": "queries",
    "clear_cache": "loader",
    "load_catalog": "loader",
    "parse_file": "loader",
}
__all__ = [
    "Arch",
    "Catalog",
    "Fact",
    "HardwareEntry",
    "HostingPrice",
    "Lineage",
    "ModelEntry",
    "Price",
    "RunRecipe",
    "Score",
    "Throughput",
    "clear_cache",
    "format_count",
    "load_catalog",
    "parse_count",
    "parse_file",
]

if TYPE_CHECKING:
    from lmscape.catalog.loader import clear_cache, load_catalog, parse_file
    from lmscape.catalog.queries import Catalog, format_count, parse_count
    from lmscape.catalog.schema import (
        Arch,
        Fact,
        HardwareEntry,
        HostingPrice,
        Lineage,
        ModelEntry,
        Price,
        RunRecipe,
        Score,
        Throughput,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lmscape.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"lmscape.catalog.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
