"""Named local models: ``$LMSCAPE_HOME/models/NAME/`` plus an entry in the user catalog.

The entry (in ``$LMSCAPE_HOME/catalog.yaml``) runs the folder through the ``hf`` backend
(or ``onnx`` for an export) and carries the model's lineage (teacher, data, date,
metrics), so ``lmscape models`` lists it and ``run``, ``bench`` and ``serve`` use it by
name. The catalog file is rewritten atomically and validated before it replaces the old
one; an entry with the same id is replaced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from lmscape.config import load_settings
from lmscape.errors import ConfigError

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
LINEAGE_FILE = "lmscape_lineage.json"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"model name {name!r} is not allowed",
                          hint="use lowercase letters, digits, '.' and '-' "
                          "(e.g. minilm-sst2-gemma)")
    return name


def default_name(student: str, task: str, teacher: str) -> str:
    who = "gold" if teacher == "gold" else teacher.split("/")[0].split(":")[-1]
    raw = f"{student}-{task}-{who}".lower()
    return re.sub(r"[^a-z0-9.-]+", "-", raw).strip("-.")


def default_export_name(model: str, strategy: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", f"{model}-{strategy}".lower()).strip("-.")


def models_dir() -> Path:
    return load_settings().home / "models"


def model_dir(name: str) -> Path:
    return models_dir() / check_name(name)


def work_dir(name: str) -> Path:
    """Checkpoints and state of an unfinished distillation."""
    return load_settings().home / "distill" / check_name(name)


def _base_entry(base: str) -> Any:
    from lmscape.catalog import load_catalog
    from lmscape.errors import NotFoundError

    try:
        return load_catalog().get(base)
    except NotFoundError:
        return None  # a student given as a folder has no catalog entry


def n_parameters(path: Path) -> int | None:
    """Parameters counted from the saved safetensors headers (no weights loaded)."""
    total = 0
    files = list(path.glob("*.safetensors"))
    for f in files:
        with f.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        for key, meta in header.items():
            if key != "__metadata__":
                n = 1
                for d in meta["shape"]:
                    n *= d
                total += n
    return total or None


def catalog_entry_for(name: str, *, path: Path, backend: str, lineage: dict[str, Any],
                      base: str, description: str) -> dict[str, Any]:
    """A user-catalog entry (plain data) for the model saved at ``path``."""
    today = dt.date.today().isoformat()
    base_entry = _base_entry(base)
    entry: dict[str, Any] = {
        "id": name,
        "name": name,
        "developer": "made here with lmscape",
        "access": "open-weight",
        "size_class": "small",
        "licence": (f"{base_entry.licence} (from {base_entry.id}); the teacher's terms may "
                    "also apply" if base_entry is not None else "see the base model's licence"),
        "architecture": description,
        "run": {"backend": backend, "model": str(path)},
        "notes": f"{lineage['kind']} from {lineage['base']} on {lineage['task']}"
                 + (f" (teacher: {lineage['teacher']})" if lineage.get("teacher") else ""),
        "lineage": lineage,
    }
    params = n_parameters(path)
    if params:
        entry["params"] = {"value": params, "as_of": today,
                           "source": f"counted by lmscape from the weights in {path}"}
    if base_entry is not None and base_entry.arch is not None:
        entry["arch"] = base_entry.arch.model_dump(mode="json", exclude_none=True)
    if base_entry is not None and base_entry.context_fact is not None:
        entry["context_window"] = base_entry.context_fact.model_dump(mode="json",
                                                                     exclude_none=True)
    return entry


def add_to_catalog(entry: dict[str, Any]) -> Path:
    """Add or replace ``entry`` in ``$LMSCAPE_HOME/catalog.yaml`` (validated, atomic)."""
    from lmscape.catalog import clear_cache, parse_file

    path = load_settings().user_catalog
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"models": []}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict) or not isinstance(loaded.get("models", []), list):
            raise ConfigError(f"{path} is not a catalog file (no models: list)",
                              hint="fix or move the file, then run again")
        data = {**loaded, "models": list(loaded.get("models") or [])}
    data["models"] = [m for m in data["models"]
                      if not (isinstance(m, dict) and m.get("id") == entry["id"])]
    data["models"].append(entry)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False,
                                  allow_unicode=True), encoding="utf-8")
    try:
        parse_file(tmp, label=str(path))
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    clear_cache()
    return path


def write_lineage(path: Path, lineage: dict[str, Any]) -> None:
    (path / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2, default=str))


def read_lineage(path: Path) -> dict[str, Any] | None:
    f = path / LINEAGE_FILE
    return json.loads(f.read_text()) if f.exists() else None
