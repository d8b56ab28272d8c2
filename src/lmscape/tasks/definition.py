"""Data-only task definitions (``tasks/*.yaml``) and the base class that reads them.

A definition names the vendored dataset folder and its split files, the field names,
the label set, prompt templates, metrics and the ``version``. It is loaded with
``yaml.safe_load`` and validated by pydantic (``extra="forbid"``): no executable code.
Changing a prompt or a metric means bumping ``version``; the version is stored with
every result.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lmscape.errors import ConfigError, DataError
from lmscape.tasks.base import Item, Task
from lmscape.tasks.loading import Record, stream_items

TASKS_DIR = Path(__file__).parent
DATA_DIR = TASKS_DIR / "data"


class Fields(BaseModel):
    """Column names of the built-in data files."""

    model_config = ConfigDict(extra="forbid")
    id: str = "id"
    text: str = "text"
    reference: str = "label"


class TaskDefinition(BaseModel):
    """One ``tasks/*.yaml`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str
    kind: str  # sentiment | keywords | dialogue | mt-bench
    dataset: str  # folder under tasks/data
    splits: dict[str, str]  # split name -> file in the dataset folder
    default_split: str
    train_split: str | None = None
    fields: Fields = Field(default_factory=Fields)
    labels: tuple[str, ...] | None = None
    label_aliases: dict[str, str] = Field(default_factory=dict)
    primary_metric: str
    higher_is_better: bool = True
    metrics: tuple[str, ...]
    prompts: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    citation: str  # a CITATION.bib path under tasks/data
    license: str

    @model_validator(mode="after")
    def _check(self) -> TaskDefinition:
        if self.default_split not in self.splits:
            raise ValueError(f"default_split {self.default_split!r} is not in splits")
        if self.train_split is not None and self.train_split not in self.splits:
            raise ValueError(f"train_split {self.train_split!r} is not in splits")
        if self.primary_metric not in self.metrics:
            raise ValueError(f"primary_metric {self.primary_metric!r} is not in metrics")
        for alias, label in self.label_aliases.items():
            if self.labels is None or label not in self.labels:
                raise ValueError(f"label alias {alias!r} maps to unknown label {label!r}")
        return self

    def split_path(self, split: str) -> Path:
        return DATA_DIR / self.dataset / self.splits[split]


@cache
def load_definition(filename: str) -> TaskDefinition:
    """Read and validate ``tasks/<filename>``."""
    path = TASKS_DIR / filename
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return TaskDefinition.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"task definition {path} cannot be read: {exc}",
                          hint="reinstall lmscape") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"task definition {path}: {where}: {err['msg']}",
                          hint="fix the YAML file") from None


class DefinedTask(Task):
    """A task backed by a YAML definition. Subclasses convert records and score."""

    definition_file: str = ""

    def __init__(self, definition: TaskDefinition | None = None, **options: Any) -> None:
        self.definition = definition or load_definition(self.definition_file)
        d = self.definition
        unknown = set(options) - set(d.options)
        if unknown:
            raise ConfigError(
                f"task {d.name!r} has no option {min(unknown)!r}",
                hint=f"options of {d.name}: {', '.join(sorted(d.options)) or 'none'}",
            )
        self.options = {**d.options, **options}
        self.name = d.name
        self.version = d.version
        self.primary_metric = d.primary_metric
        self.higher_is_better = d.higher_is_better
        self.labels = d.labels
        self.default_split = d.default_split
        self.train_split = d.train_split

    @property
    def prompts(self) -> dict[str, Any]:
        return self.definition.prompts

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.definition.splits)

    def dataset_id(self, split: str | None = None, data_file: str | None = None) -> str:
        """What the store records as the dataset: ``name:split`` or the file path."""
        if data_file:
            return str(Path(data_file).expanduser().resolve())
        return f"{self.definition.dataset}:{split or self.default_split}"

    def items(
        self,
        split: str | None = None,
        *,
        data_file: str | None = None,
        text_col: str | None = None,
        label_col: str | None = None,
        limit: int | None = None,
        seed: int = 7,
    ) -> Iterator[Item]:
        if data_file is not None:
            if split is not None:
                raise DataError("give either a split or --data, not both",
                                hint="drop --split when passing --data")
            columns = (self.definition.fields.id, text_col or self.definition.fields.text,
                       label_col or self.definition.fields.reference)
            return stream_items(data_file, lambda r: self.make_item(r, *columns, user=True),
                                limit=limit, seed=seed)
        split = split or self.default_split
        if split not in self.definition.splits:
            from lmscape.errors import NotFoundError

            raise NotFoundError(f"split of task {self.name!r}", split, self.definition.splits,
                                hint=f"splits: {', '.join(self.definition.splits)}")
        f = self.definition.fields
        return stream_items(self.definition.split_path(split),
                            lambda r: self.make_item(r, f.id, f.text, f.reference, user=False),
                            limit=limit, seed=seed)

    def make_item(self, record: Record, id_col: str, text_col: str, ref_col: str,
                  *, user: bool) -> Item:
        """Turn one record into an Item (validating it)."""
        raise NotImplementedError

    @staticmethod
    def item_id(record: Record, id_col: str) -> str:
        value = record.data.get(id_col)
        if value is None or str(value).strip() == "":
            return f"line-{record.line}"
        return str(value)
