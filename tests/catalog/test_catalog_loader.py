"""User catalogs extend and override the built-in one; malformed files give one error
naming the file, the entry and the field."""

from __future__ import annotations

import os
import textwrap

import pytest

from lmscape.catalog import load_catalog
from lmscape.errors import CatalogError

NEW_MODEL = """\
  - id: my-tiny-lm
    name: My Tiny LM
    developer: Example Lab
    access: open-weight
    size_class: small
    licence: MIT
    architecture: decoder-only Transformer
    params: {value: 50000000, source: "https://example.org/my-tiny-lm", as_of: 2025-01-02}
    run: {backend: llamacpp, model: /models/tiny.gguf, options: {n_ctx: 1024}}
"""

OVERRIDE_GPT4O = """\
  - id: gpt-4o
    name: GPT-4o (negotiated price)
    developer: OpenAI
    access: closed
    size_class: large
    licence: proprietary
    architecture: not disclosed
    price: {input_per_mtok: 2.0, output_per_mtok: 8.0, source: "contract 2025-17", as_of: 2025-03-01}
    run: {backend: openai, model: gpt-4o-2024-08-06, options: {api_key_env: OPENAI_API_KEY}}
"""


def write(path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version: 1\nmodels:\n" + body, encoding="utf-8")
    return path


def test_user_catalog_in_home_extends_and_overrides(lmscape_home):
    write(lmscape_home / "catalog.yaml", NEW_MODEL + OVERRIDE_GPT4O)
    cat = load_catalog()
    tiny = cat.get("my-tiny-lm")
    assert tiny.params == 50_000_000 and tiny.origin.endswith("catalog.yaml")
    gpt4o = cat.get("gpt-4o")
    assert gpt4o.price.input_per_mtok == 2.0 and gpt4o.name == "GPT-4o (negotiated price)"
    assert cat.ids().index("gpt-4o") == 1  # an override keeps its place
    assert cat.get("gpt-4").origin == "built-in"


def test_extra_files_apply_after_the_home_catalog(lmscape_home, tmp_path):
    write(lmscape_home / "catalog.yaml", OVERRIDE_GPT4O)
    extra = write(tmp_path / "team.yaml", OVERRIDE_GPT4O.replace("2.0,", "1.5,"))
    assert load_catalog([extra]).get("gpt-4o").price.input_per_mtok == 1.5
    assert load_catalog().get("gpt-4o").price.input_per_mtok == 2.0


def test_loads_are_cached_until_a_file_changes(tmp_path):
    path = write(tmp_path / "c.yaml", NEW_MODEL)
    first = load_catalog([path])
    assert load_catalog([str(path)]) is first
    write(path, NEW_MODEL.replace("My Tiny LM", "Renamed"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = load_catalog([path])
    assert again is not first and again.get("my-tiny-lm").name == "Renamed"


@pytest.mark.parametrize(
    ("body", "entry", "field", "words"),
    [
        (NEW_MODEL.replace("licence: MIT", "licnse: MIT"), "my-tiny-lm", "licnse", "unknown field"),
        (
            NEW_MODEL.replace("value: 50000000", "value: lots"),
            "my-tiny-lm",
            "params.value",
            "integer",
        ),
        (
            NEW_MODEL.replace('source: "https://example.org/my-tiny-lm", ', ""),
            "my-tiny-lm",
            "params.source",
            "missing",
        ),
        (
            NEW_MODEL.replace("access: open-weight", "access: public"),
            "my-tiny-lm",
            "access",
            "closed",
        ),
        (NEW_MODEL + NEW_MODEL, "my-tiny-lm", "id", "twice"),
        (
            NEW_MODEL.replace("name: My Tiny LM", "name: My Tiny LM\n    aliases: [gpt-4]"),
            "my-tiny-lm",
            "aliases",
            "already the id",
        ),
    ],
    ids=["unknown-field", "wrong-type", "missing-source", "bad-enum", "duplicate", "alias"],
)
def test_malformed_entries_name_file_entry_and_field(tmp_path, body, entry, field, words):
    path = write(tmp_path / "bad.yaml", body)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    err = info.value
    assert (err.file, err.entry, err.field) == (str(path.resolve()), entry, field)
    assert words in str(err)
    assert "\n" not in err.one_line()


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nmodels:\n  - id: x\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    assert info.value.file == str(path.resolve())
    assert "line 5" in str(info.value) or "line 4" in str(info.value)
    assert "YAML syntax error" in str(info.value)


def test_top_level_must_be_a_models_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(textwrap.dedent("- id: x\n"), encoding="utf-8")
    with pytest.raises(CatalogError, match="top level"):
        load_catalog([path])
    path.write_text("version: 1\nmodel: []\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    assert info.value.field == "model"


def test_missing_extra_file_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="file not found"):
        load_catalog([tmp_path / "nope.yaml"])
