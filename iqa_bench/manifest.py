"""The typed schema of a run directory's ``manifest.json``, validated on every read.

The manifest is what makes a number traceable: the conventions it was computed under, the versions
of every library, the content hash of every input file and weights file, the cells a run set out
to compute (``planned``), and per model and variant the runner that computed it. A file that does
not fit this schema (a hand edit, a truncated write from another tool, a newer iqa-bench) is refused
with one message naming the field, instead of failing later with a ``KeyError`` deep in a report.

Format versions
---------------
1
    Before ``format_version`` was written. Same layout; its results carry no content ids, so a
    resumed run recomputes (never trusts) every cell, and it has no ``planned`` cells, so its
    completeness is unknown.
2
    Content-keyed results (``inputs``), ``planned`` cells, weights and artefacts merged per scale.

:func:`migrate` brings an older document to the current version; unknown extra fields are kept
(a plugin may record its own), known ones must have their documented type.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

MANIFEST_VERSION = 2


class _Record(BaseModel):
    # extra fields are kept: plugins and newer runners may record more provenance
    model_config = ConfigDict(extra="allow")


class FileRecord(_Record):
    """An input file: where it was read and the sha256 of its bytes."""

    path: str
    sha256: str


class ItemRecord(_Record):
    """One image (or clip) of a dataset at one scale: its HR file and its LR file or ``"generated"``."""

    hr: FileRecord
    lr: FileRecord | Literal["generated"]


class DatasetRecord(_Record):
    """A dataset's root, and per scale (keys ``x2``, ``x4``...) its items by name."""

    root: str

    def scales(self) -> dict[int, dict[str, ItemRecord]]:
        """Items per scale, validated."""
        extra = self.model_extra or {}
        return {int(k[1:]): {n: ItemRecord.model_validate(r) for n, r in v.items()} for k, v in extra.items()}

    @model_validator(mode="after")
    def _scales_hold_items(self) -> "DatasetRecord":
        for key, value in (self.model_extra or {}).items():
            if not (key.startswith("x") and key[1:].isdigit()):
                raise ValueError(f"unknown key {key!r} (expected 'root' and scales such as 'x4')")
            if not isinstance(value, dict):
                raise ValueError(f"'{key}' is a {type(value).__name__}, not an object of items")
            for rec in value.values():
                ItemRecord.model_validate(rec)
        return self


class VariantRecord(_Record):
    variant: str
    backend: str


class ModelRecord(_Record):
    """A model (or an output folder) of the run; ``weights`` per scale key, ``variants`` by
    ``variant/backend``."""

    weights: dict[str, FileRecord] = {}
    variants: dict[str, VariantRecord] = {}


class MetricRecord(_Record):
    """A metric's definition as computed (the registry's metadata at the time)."""

    kind: Literal["fr", "nr", "video"]
    higher_is_better: bool
    description: str
    colour: str | None = None
    crop: str | None = None


class PlanEntry(_Record):
    images: list[str]
    metrics: list[str]


class RunManifest(_Record):
    """``manifest.json`` of a run directory."""

    format_version: int = 1
    created: str | None = None
    updated: str | None = None
    kind: Literal["image", "video"] = "image"
    primary_metric: str | None = None
    command: list[str] = []
    versions: dict[str, str] = {}
    hardware: dict[str, Any] = {}
    conventions: dict[str, str] = {}
    datasets: dict[str, DatasetRecord] = {}
    models: dict[str, ModelRecord] = {}
    metrics: dict[str, MetricRecord] = {}
    planned: dict[str, PlanEntry] = {}
    artefacts: dict[str, dict[str, Any]] = {}
    failures: list[str] = []

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"format_version {v} is not a version")
        return v


class NewerManifestError(ValueError):
    """The manifest was written by a newer iqa-bench (its ``format_version`` is above ours)."""


def migrate(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` brought to :data:`MANIFEST_VERSION` (a new dict; the input is not changed).

    Version 1 needs no rewriting: its fields are a subset of version 2's, and what it lacks
    (content ids, the plan) is treated as unknown by the readers, never guessed.
    """
    version = doc.get("format_version", 1)
    if version > MANIFEST_VERSION:
        raise NewerManifestError(version)
    return {**doc, "format_version": MANIFEST_VERSION} if version == 1 else dict(doc)


def validate(doc: object) -> dict[str, Any]:
    """The manifest ``doc`` validated against :class:`RunManifest` and migrated; the fields it had
    are returned as they were (no defaults added), so reading and writing back changes nothing else.

    Raises
    ------
    NewerManifestError
        ``format_version`` is newer than this iqa-bench reads.
    ValueError
        The document does not fit the schema; the message names the first bad field.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"a JSON {type(doc).__name__}, not an object")
    version = doc.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"field format_version: {version!r} is not an integer")
    if version > MANIFEST_VERSION:
        raise NewerManifestError(version)
    try:
        RunManifest.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ValueError(f"field {where}: {err['msg']}") from None
    return migrate(doc)
