"""A corpus of hostile but realistic inputs across the CLI verbs: each ends with one readable message
naming the file or option and the fix, the documented exit code, and no traceback; results computed
before a failure stay on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.results import load_run
from tests.conftest import photo_like, save_png

runner = CliRunner()


@pytest.fixture
def files(tmp_path, shared, monkeypatch):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))
    monkeypatch.setenv("IQA_BENCH_OFFLINE", "1")
    monkeypatch.setenv("IQA_BENCH_ARTEFACTS", str(tmp_path / "artefacts"))
    save_png(tmp_path / "data" / "small40.png", photo_like(40, 40))
    save_png(tmp_path / "data" / "photo.png", photo_like(200, 200, seed=3))
    save_png(tmp_path / "flat.png", np.full((64, 64, 3), 128, np.uint8))
    (tmp_path / "zero.pth").write_bytes(b"")
    (tmp_path / "a_file").write_text("not a folder")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "results.parquet").write_text("garbage")
    (corrupt / "manifest.json").write_text("{}")
    _bomb_png16(tmp_path / "bomb16.png", 12000, 12000)
    broken_manifest = tmp_path / "broken_manifest"
    broken_manifest.mkdir()
    (broken_manifest / "manifest.json").write_text('{"conventions": ')
    bad_field = tmp_path / "bad_field"  # valid JSON, a field of the wrong shape (a hand edit)
    bad_field.mkdir()
    (bad_field / "manifest.json").write_text('{"format_version": 2, "models": {"mine": {"variants": {"fp32/torch": '
                                             '{"variant": "fp32"}}}}}')
    return tmp_path


def _bomb_png16(path: Path, width: int, height: int) -> None:
    """A 16-bit grey PNG whose header claims width x height pixels, with a tiny (truncated) IDAT: what a
    decompression bomb looks like before it is decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + chunk(b"IEND", b""))


CASES = [
    (["score", "{tmp}/bomb16.png", "--metrics", "tv"], 2, ["bomb16.png is 12000x12000 pixels", "decompression bomb"]),
    # (argv with {tmp}, exit code, words the message must hold)
    (["score", "{tmp}/data/small40.png", "--metrics", "niqe"], 2, ["small40.png", "niqe", "96x96", "fix:"]),
    (["score", "{tmp}/flat.png", "--metrics", "brisque"], 2, ["flat.png", "brisque cannot score", "fix:"]),
    (["evaluate", "--models", "bicubic", "--device", "cdua", "--out", "{tmp}/r"], 2, ["unknown device 'cdua'"]),
    (["score", "{tmp}/flat.png", "--metrics", "tv", "--device", "gpu"], 2, ["unknown device 'gpu'"]),
    (["evaluate", "--model", "mine={tmp}/zero.pth", "--arch", "fsrcnn", "--scale", "2", "--out", "{tmp}/r"], 1,
     ["zero.pth is empty (0 bytes)", "fetch the file again"]),
    (["evaluate", "--model", "mine={shared}/weights/sr/fsrcnn_x2.pth", "--arch", "fsrcnn", "--scale", "2", "--out",
      "{tmp}/r"], 1, ["does not take 3-channel input", "pass --input y"]),
    (["bench", "-m", "fsrcnn", "--scale", "2", "--size", "0"], 2, ["--size 0", "at least 8"]),
    (["bench", "-m", "fsrcnn", "--scale", "2", "--reps", "0"], 2, ["--reps 0", "at least 1"]),
    (["quantize", "fsrcnn", "--calib-patches", "0"], 2, ["at least one is needed"]),
    (["report", "{tmp}/corrupt"], 2, ["corrupt/results.parquet is corrupt", "mv "]),
    (["gate", "--run", "{tmp}/corrupt", "--baseline", "reports/baseline"], 2, ["results.parquet is corrupt"]),
    (["compare", "{tmp}/corrupt"], 2, ["results.parquet is corrupt"]),
    (["evaluate", "--models", "bicubic", "--out", "{tmp}/broken_manifest"], 2, ["manifest.json is corrupt", "mv "]),
    (["evaluate", "--models", "bicubic", "--out", "{tmp}/a_file"], 2, ["is a file"]),
    (["evaluate", "--models", "", "--out", "{tmp}/r"], 2, ["names no model"]),
    (["evaluate", "--models", "bicubic", "--scale", "0"], 2, ["--scale", "positive integers"]),
    (["evaluate", "--models", "bicubic", "--out", "{tmp}/bad_field"], 2,
     ["bad_field/manifest.json is corrupt", "field models.mine.variants.fp32/torch.backend", "mv "]),
    (["report", "{tmp}/bad_field"], 2, ["bad_field/manifest.json is corrupt"]),
    (["baseline", "update", "{tmp}/corrupt", "--out", "{tmp}/b"], 2, ["results.parquet is corrupt"]),
    (["video", "evaluate", "--models", "bicubic", "--metrics", "psnr_y", "--out", "{tmp}/v"], 2, ["is an image"]),
    (["video", "evaluate", "--models", "bicubic", "--metrics", "flicker", "--out", "{tmp}/broken_manifest"], 2,
     ["manifest.json is corrupt"]),
    (["video", "score", "--reference", "{tmp}/nope.y4m", "--distorted", "{tmp}/flat.png", "--metrics", "flicker"], 2,
     ["nope.y4m"]),
    (["weights", "fetch", "nope.pth"], 2, ["unknown weights file 'nope.pth'"]),
    (["list", "things"], 2, ["things"]),
]


@pytest.mark.parametrize("argv, code, words", CASES, ids=[" ".join(c[0][:2]) + f" #{i}" for i, c in enumerate(CASES)])
def test_no_traceback_reaches_the_user(files, shared, argv, code, words, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    res = runner.invoke(app, [a.replace("{tmp}", str(files)).replace("{shared}", str(shared)) for a in argv],
                        terminal_width=300)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert res.exit_code == code, res.output
    text = " ".join(res.output.split())
    for w in words:
        assert w in text, (w, res.output)


def test_a_metric_that_cannot_score_an_image_keeps_every_other_result(files):
    """niqe needs 96x96 pixels: its cell on the small image fails with one line, exit 1, the PSNR rows of
    every image and niqe of the large one are kept."""
    res = runner.invoke(app, ["evaluate", "--dataset", str(files / "data"), "--models", "bicubic", "--metrics",
                              "psnr,niqe", "--scale", "2", "--out", str(files / "r")], terminal_width=300)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "niqe of bicubic fp64/interp on" in res.output and "small40.png" in res.output
    df = load_run(files / "r")
    assert set(zip(df["image"], df["metric"])) == {("photo", "psnr"), ("small40", "psnr"), ("photo", "niqe")}
    # the run is incomplete: the gate and the report say so instead of passing or ranking it
    manifest = json.loads((files / "r" / "manifest.json").read_text())
    assert "failures" in manifest
    rep = runner.invoke(app, ["report", str(files / "r")])
    assert rep.exit_code == 2 and "incomplete: 1 of 4 planned cells missing" in " ".join(rep.output.split())


@pytest.mark.parametrize("kw, words", [
    ({"scales": (0,)}, "not a tuple of positive integers"),
    ({"scales": "4"}, "scales=(4,)"),
    ({"models": "bicubic"}, "models=('bicubic',)"),
    ({"datasets": "default"}, "EvalConfig.datasets is a str"),
])
def test_python_api_refuses_values_that_would_fail_deep_inside(kw, words):
    from iqa_bench.engine import EvalConfig
    from iqa_bench.errors import InputError

    with pytest.raises(InputError, match=re.escape(words)):
        EvalConfig(**{"models": ("bicubic",), **kw})


def _limited(limit_bytes: int, argv: list[str], cwd: Path):
    """Run the console script with a real file-size limit (RLIMIT_FSIZE): every write past it fails with
    EFBIG, as a full disk fails with ENOSPC."""
    import resource
    import signal
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write() instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "iqa_bench.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit if limit_bytes else None, timeout=600)


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_what_was_written(tmp_path):
    """Small images fit, the large one's SR output does not: exit 1, one message naming the file and
    the fix, no traceback, the lock released; rerunning reuses every value written before."""
    data = tmp_path / "data"
    for i in range(3):
        save_png(data / f"a{i}.png", photo_like(48, 48, seed=i))
    save_png(data / "z_large.png", np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    argv = ["evaluate", "--models", "bicubic", "--dataset", str(data), "--scale", "2", "--out", "run"]
    proc = _limited(200_000, argv, tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"error: cannot write run/outputs/\S+/z_large\.png: File too large", proc.stderr), proc.stderr
    assert "free disk space" in proc.stderr and "rerun the same command" in proc.stderr
    assert not (tmp_path / "run" / ".lock").exists()
    kept = load_run(tmp_path / "run")
    assert sorted(kept["image"].unique()) == ["a0", "a1", "a2"]

    again = _limited(0, argv, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "computed 1 cells, reused 3" in again.stdout
    assert len(load_run(tmp_path / "run")) == 4 * len(kept) // 3


@pytest.mark.parametrize("code, words", [("EROFS", "make the folder writable"), ("EACCES", "make the folder writable"),
                                         ("ENOSPC", "free disk space"), ("EDQUOT", "free disk space")])
def test_storage_errors_name_the_file_and_the_fix(code, words):
    import errno
    import os

    from iqa_bench.errors import is_storage_error, storage_error

    exc = OSError(getattr(errno, code), os.strerror(getattr(errno, code)), "run/results.parts/part-00000001.parquet")
    assert is_storage_error(exc)
    err = storage_error(exc)
    assert err.exit_code == 1 and err.message.startswith("cannot write run/results.parts/part-00000001.parquet: ")
    assert words in err.hint
    assert not is_storage_error(OSError(errno.ENOENT, "No such file or directory", "x.png"))
