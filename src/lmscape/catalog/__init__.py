"""The cited model catalog: facts about each model (access, licence, parameters,
context, prices, published scores, how to run it), each with its source and date, plus
hardware fit.

    from lmscape.catalog import load_catalog
    cat = load_catalog()                  # built-in + $LMSCAPE_HOME/catalog.yaml
    entry = cat.get("gpt-4o")             # by id or alias
    entry.price.input_per_mtok, entry.price.source

Importing this package is cheap: PyYAML and pydantic only.
"""

from __future__ import annotations

from lmscape.catalog.loader import clear_cache, load_catalog, parse_file
from lmscape.catalog.queries import Catalog, format_count, parse_count
from lmscape.catalog.schema import Arch, Fact, ModelEntry, Price, RunSpec, Score

__all__ = [
    "Arch",
    "Catalog",
    "Fact",
    "ModelEntry",
    "Price",
    "RunSpec",
    "Score",
    "clear_cache",
    "format_count",
    "load_catalog",
    "parse_count",
    "parse_file",
]
