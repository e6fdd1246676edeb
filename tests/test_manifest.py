"""The typed manifest: what the engine writes validates, older formats migrate, broken ones are refused
naming the field."""

import copy
import json
import shutil

import pytest

from iqa_bench.errors import RunStateError
from iqa_bench.manifest import MANIFEST_VERSION, RunManifest, migrate, validate
from iqa_bench.results import read_manifest


def _doc(small_run):
    return json.loads((small_run / "manifest.json").read_text())


def test_what_the_engine_writes_validates_and_reads_back_unchanged(small_run):
    doc = _doc(small_run)
    typed = RunManifest.model_validate(doc)
    assert typed.format_version == MANIFEST_VERSION
    assert all(p.images and p.metrics for p in typed.planned.values())
    ds = next(iter(typed.datasets.values()))
    items = ds.scales()
    assert items and all(len(r.hr.sha256) == 64 for per in items.values() for r in per.values())
    assert read_manifest(small_run) == doc  # validation adds no field and changes none


def test_format_1_migrates_to_the_current_version(small_run, tmp_path):
    doc = _doc(small_run)
    doc.pop("format_version")
    doc.pop("planned")
    old = copy.deepcopy(doc)
    new = migrate(doc)
    assert new["format_version"] == MANIFEST_VERSION and doc == old  # the input is left as it was
    run = tmp_path / "v1"
    shutil.copytree(small_run, run)
    (run / "manifest.json").write_text(json.dumps(old))
    assert read_manifest(run)["format_version"] == MANIFEST_VERSION


@pytest.mark.parametrize("edit, field", [
    (lambda d: next(iter(d["models"].values())).update(variants={"fp32/torch": {"variant": "fp32"}}),
     r"models\.\w+\.variants\.fp32/torch\.backend"),
    (lambda d: next(iter(d["datasets"].values())).update(x4="all"), r"'x4' is a str"),
    (lambda d: next(iter(d["datasets"].values())).update(notes={}), r"unknown key 'notes'"),
    (lambda d: next(iter(d["planned"].values())).pop("images"), r"planned\..*\.images: Field required"),
    (lambda d: next(iter(d["metrics"].values())).update(kind="audio"), r"metrics\.\w+\.kind"),
    (lambda d: d.update(command="evaluate"), r"field command"),
    (lambda d: d.update(format_version="2"), r"format_version: '2' is not an integer"),
])
def test_a_broken_field_is_refused_naming_it(small_run, tmp_path, edit, field):
    doc = _doc(small_run)
    edit(doc)
    with pytest.raises(ValueError, match=field):
        validate(doc)
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(RunStateError, match=r"manifest\.json is corrupt .*field") as e:
        read_manifest(run)
    assert "mv " in e.value.hint


def test_a_newer_format_is_refused_with_the_upgrade_hint(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    doc = _doc(small_run) | {"format_version": MANIFEST_VERSION + 1}
    (run / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(RunStateError, match=f"format_version {MANIFEST_VERSION + 1}") as e:
        read_manifest(run)
    assert "upgrade iqa-bench" in e.value.hint
