"""Standard benchmarks by name: found in $IQA_BENCH_DATA, else the cache, else downloaded (sha256-verified,
against a server on 127.0.0.1) and extracted; offline and missing, one error naming the folder, source
and licence."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from iqa_bench.data import benchmarks
from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.errors import InputError


@pytest.fixture
def set5_zip(shared, tmp_path):
    """Set5 (HR + LR_bicubic) zipped under a top-level Set5/ folder, served from 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "Set5.zip", "w") as zf:
        for p in sorted((shared / "data" / "Set5").rglob("*.png")):
            zf.write(p, "Set5/" + str(p.relative_to(shared / "data" / "Set5")))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/Set5.zip", hashlib.sha256((root / "Set5.zip").read_bytes()).hexdigest()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.delenv(benchmarks.ENV_DATA, raising=False)
    monkeypatch.delenv("IQA_BENCH_CACHE", raising=False)
    monkeypatch.delenv("IQA_BENCH_OFFLINE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def test_a_benchmark_name_resolves_through_iqa_bench_data(shared, clean_env, monkeypatch):
    monkeypatch.setenv(benchmarks.ENV_DATA, str(shared / "data"))
    ds = resolve_dataset("Set5")
    samples = ds.samples(2)
    assert ds.name == "Set5" and len(samples) == 5 and all(s.lr_path is not None for s in samples)
    assert resolve_dataset("set14").name == "Set14"


def test_download_is_verified_extracted_and_cached(set5_zip, clean_env, monkeypatch, tmp_path):
    url, sha = set5_zip
    good = dataclasses.replace(benchmarks.BENCHMARKS["set5"], archive=dataclasses.replace(
        benchmarks.BENCHMARKS["set5"].archive, url=url, sha256=sha))
    monkeypatch.setitem(benchmarks.BENCHMARKS, "set5", good)
    folder = benchmarks.locate(good)
    assert folder == tmp_path / "xdg" / "iqa-bench" / "datasets" / "Set5"
    assert len(list((folder / "HR").glob("*.png"))) == 5 and (folder / "LR_bicubic" / "X4").is_dir()
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")  # the cached copy is found without the network
    assert benchmarks.locate(good) == folder
    # a wrong sha256: refused, nothing kept
    monkeypatch.delenv("IQA_BENCH_OFFLINE")
    bad = dataclasses.replace(good, name="Set5bad", archive=dataclasses.replace(good.archive, file="datasets/Set5bad.zip",
                                                                                  sha256="0" * 64))
    with pytest.raises(InputError, match="has sha256 .* expected 0000"):
        benchmarks.locate(bad)
    assert not (tmp_path / "xdg" / "iqa-bench" / "datasets" / "Set5bad").exists()


def test_missing_offline_names_folder_source_and_licence(clean_env, tmp_path):
    with pytest.raises(InputError) as exc:
        resolve_dataset("Urban100")
    text = str(exc.value)
    assert "dataset Urban100 not found" in text and str(tmp_path / "xdg" / "iqa-bench" / "datasets" / "Urban100") in text
    assert "SelfExSR" in text and "research use" in text and "IQA_BENCH_DATA" in text


def test_an_existing_folder_wins_over_a_registered_name(clean_env, tmp_path):
    from tests.conftest import photo_like, save_png

    save_png(tmp_path / "Set5" / "x.png", photo_like(16, 16))
    ds = resolve_dataset("Set5")
    assert ds.hr_dir.resolve() == (tmp_path / "Set5").resolve() and [s.name for s in ds.samples(2)] == ["x"]
