"""Weights store against a real HTTP server on 127.0.0.1: good file, wrong hash, 404, interrupted."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from iqa_bench.weights import WeightSpec, WeightsError, WeightsStore, sha256_of

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path in ("/good.pth", "/other.pth"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/truncated.pth":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _store(tmp_path, **kw) -> WeightsStore:
    return WeightsStore(paths=kw.pop("paths", []), cache_dir=tmp_path / "cache", timeout=10, **kw)


def test_download_verifies_and_caches(tmp_path, server):
    store = _store(tmp_path)
    spec = WeightSpec("sr/good.pth", SHA, f"{server}/good.pth")
    p = store.resolve(spec)
    assert p == tmp_path / "cache" / "sr" / "good.pth" and p.read_bytes() == PAYLOAD
    before = _Handler.hits.get("/good.pth", 0)
    assert store.resolve(spec) == p  # second call: cache hit, no request
    assert _Handler.hits.get("/good.pth", 0) == before


def test_wrong_hash_download_is_refused_and_deleted(tmp_path, server):
    store = _store(tmp_path)
    spec = WeightSpec("sr/other.pth", "0" * 64, f"{server}/other.pth")
    with pytest.raises(WeightsError, match="has sha256 .* expected 0000") as exc:
        store.resolve(spec)
    assert "supply the original file" in exc.value.hint
    assert not any((tmp_path / "cache").rglob("*.pth")) and not any((tmp_path / "cache").rglob("*.tmp"))


def test_http_404(tmp_path, server):
    with pytest.raises(WeightsError, match="HTTP 404") as exc:
        _store(tmp_path).resolve(WeightSpec("nr/gone.pth", SHA, f"{server}/gone.pth"))
    assert "cache/nr/gone.pth" in exc.value.hint and SHA in exc.value.hint


def test_interrupted_transfer_leaves_nothing(tmp_path, server):
    with pytest.raises(WeightsError, match=r"interrupted \(349525 of 1048576 bytes\); nothing was kept"):
        _store(tmp_path).resolve(WeightSpec("sr/truncated.pth", SHA, f"{server}/truncated.pth"))
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_unreachable_host_is_a_clear_error(tmp_path):
    # Port 9 on loopback: nothing listens there; the connection is refused at once.
    with pytest.raises(WeightsError, match="failed .*nothing was kept") as e:
        _store(tmp_path).resolve(WeightSpec("sr/x.pth", SHA, "http://127.0.0.1:9/x.pth"))
    # the network's own reason, not a disk error made up around it
    assert "Connection refused" in e.value.message and "Errno None" not in e.value.message


def test_resolution_order_and_local_hash_check(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sr").mkdir(parents=True)
    b.mkdir()
    (b / "good.pth").write_bytes(PAYLOAD)  # bare name in the second search folder
    spec = WeightSpec("sr/good.pth", SHA, None)
    store = _store(tmp_path, paths=[a, b])
    assert store.resolve(spec) == b / "good.pth"
    (a / "sr" / "good.pth").write_bytes(PAYLOAD)
    assert store.resolve(spec) == a / "sr" / "good.pth"  # earlier folder wins
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(PAYLOAD)
    assert store.resolve(spec, explicit) == explicit
    explicit.write_bytes(PAYLOAD[:-1] + b"\x00")  # corrupt: wrong hash -> error, not used
    with pytest.raises(WeightsError, match="mine.pth has sha256"):
        store.resolve(spec, explicit)


def test_env_search_paths(tmp_path, monkeypatch):
    d = tmp_path / "w"
    d.mkdir()
    (d / "good.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", f"{tmp_path / 'nothing'}:{d}")
    monkeypatch.setenv("IQA_BENCH_CACHE", str(tmp_path / "c"))
    store = WeightsStore()
    assert store.cache_dir == tmp_path / "c"
    assert store.resolve(WeightSpec("good.pth", SHA)) == d / "good.pth"


def test_offline_missing_names_file_and_place(tmp_path):
    store = _store(tmp_path, allow_download=False)
    with pytest.raises(WeightsError) as exc:
        store.resolve(WeightSpec("nr/niqe.mat", "ab" * 32, "http://127.0.0.1:9/niqe.mat"))
    assert "weights file nr/niqe.mat not found" in exc.value.message and "downloads are off" in exc.value.message
    assert "cache/nr/niqe.mat" in exc.value.hint and "IQA_BENCH_WEIGHTS" in exc.value.hint


def test_shared_weights_hashes_match_their_sums_file(shared):
    """The test fixtures in ../shared/weights verify through the store's hash check."""
    sums = (shared / "weights" / "SHA256SUMS").read_text().split("\n")
    store = WeightsStore(paths=[shared / "weights"], cache_dir=shared / "nonexistent", allow_download=False)
    checked = 0
    for line in filter(None, sums):
        sha, rel = line.split()
        if rel.startswith("nr/"):  # small files; the large ones are checked by the model-zoo tests
            assert store.resolve(WeightSpec(rel, sha)) == shared / "weights" / rel
            assert sha256_of(shared / "weights" / rel) == sha
            checked += 1
    assert checked == 2


def test_weights_verify_and_list_models_cover_model_weights(shared, tmp_path, monkeypatch):
    """A flipped byte in a zoo model's weights file is found by `weights verify` (exit 1) and shown by
    `list models` (it used to verify as OK and list every model as 'none needed')."""
    from typer.testing import CliRunner

    from iqa_bench.cli import app

    (tmp_path / "sr").mkdir()
    data = bytearray((shared / "weights" / "sr" / "fsrcnn_x2.pth").read_bytes())
    data[1000] ^= 1
    (tmp_path / "sr" / "fsrcnn_x2.pth").write_bytes(bytes(data))
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cli = CliRunner()
    res = cli.invoke(app, ["weights", "verify"], terminal_width=300)
    assert res.exit_code == 1 and "fsrcnn_x2.pth has sha256" in res.output and "it was not used" in res.output
    res = cli.invoke(app, ["list", "models"], terminal_width=400)
    line = next(ln for ln in res.output.splitlines() if ln.strip("│ ").startswith("fsrcnn "))
    assert "sr/fsrcnn_x2.pth: WRONG HASH" in line and "sr/fsrcnn_x3.pth: missing" in line
    res = cli.invoke(app, ["weights", "list"], terminal_width=400)
    assert "fsrcnn x2" in res.output and "vdsr any" in res.output
