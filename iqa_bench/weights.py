"""Weights store: resolve a weights file by explicit path -> ``IQA_BENCH_WEIGHTS`` -> the package's own
(``iqa_bench/zoo_weights``) -> user cache -> URL.

A file whose sha256 differs from the expected one is an error and is never used (a downloaded one
is deleted). A download streams into a temporary file beside the cache entry and is renamed only
after its size and hash check out, so an interrupted transfer leaves nothing behind. Offline and
missing, the error says which file is needed, its sha256 and where to put it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from iqa_bench.errors import IQABenchError
from iqa_bench.io import atomic_path

ENV_PATHS = "IQA_BENCH_WEIGHTS"
ENV_CACHE = "IQA_BENCH_CACHE"
ENV_OFFLINE = "IQA_BENCH_OFFLINE"

# Weights trained by this project (`iqa-bench train`) ship inside the package: found with no
# download and no $IQA_BENCH_WEIGHTS, and verified by their sha256 like any other file.
PACKAGED = Path(__file__).resolve().parent / "zoo_weights"


class WeightsError(IQABenchError):
    """A weights file is missing, corrupt, or has the wrong hash."""


@dataclass(frozen=True)
class WeightSpec:
    """One weights file a model or metric needs.

    Attributes
    ----------
    file
        Relative path inside a weights folder or the cache, e.g. ``"sr/fsrcnn_x4.pth"``.
    sha256
        Expected hex digest; ``None`` where no official hash is known (the hash of what the user
        supplies is then recorded in the run manifest instead).
    url
        Where to download it; ``None`` where it cannot be downloaded.
    source
        Where a user gets it by hand when there is no URL (named in the "missing" message).
    """

    file: str
    sha256: str | None = None
    url: str | None = None
    source: str | None = None


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """``$IQA_BENCH_CACHE``, else ``$XDG_CACHE_HOME/iqa-bench/weights``, else ``~/.cache/iqa-bench/weights``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "iqa-bench" / "weights"


def search_paths() -> list[Path]:
    """Folders listed in ``$IQA_BENCH_WEIGHTS`` (``os.pathsep``-separated), in order."""
    return [Path(p).expanduser() for p in os.environ.get(ENV_PATHS, "").split(os.pathsep) if p]


def verify(path: Path, spec: WeightSpec) -> Path:
    """Return ``path`` if its hash matches ``spec.sha256`` (or none is expected); else raise."""
    if spec.sha256 is None:
        return path
    got = sha256_of(path)
    if got != spec.sha256.lower():
        raise WeightsError(
            f"weights file {path} has sha256 {got}, expected {spec.sha256} for {spec.file}; it was not used",
            "replace it with the original file (a re-download, or the file the model's authors released)",
        )
    return path


class WeightsStore:
    """Resolves :class:`WeightSpec` to a verified local file.

    Parameters
    ----------
    paths
        Folders searched before the cache (default: ``$IQA_BENCH_WEIGHTS``).
    cache_dir
        Where downloads go (default: :func:`default_cache_dir`).
    allow_download
        Try ``spec.url`` when no local copy exists (default: yes, unless ``$IQA_BENCH_OFFLINE`` is
        ``1``/``true``).
    timeout
        Seconds before a stalled connection is given up.
    """

    def __init__(
        self,
        paths: list[Path] | None = None,
        cache_dir: Path | None = None,
        *,
        allow_download: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.paths = search_paths() if paths is None else [Path(p) for p in paths]
        self.cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
        if allow_download is None:
            allow_download = os.environ.get(ENV_OFFLINE, "").lower() not in ("1", "true", "yes")
        self.allow_download = allow_download
        self.timeout = timeout

    def candidates(self, spec: WeightSpec) -> list[Path]:
        """Where a local copy is looked for, in order (each folder: relative path, then bare name)."""
        rel = Path(spec.file)
        out: list[Path] = []
        for d in [*self.paths, PACKAGED, self.cache_dir]:
            out += [d / rel] if rel.name == str(rel) else [d / rel, d / rel.name]
        return out

    def find_local(self, spec: WeightSpec) -> Path | None:
        """The first existing local copy (verified), or None."""
        for p in self.candidates(spec):
            if p.is_file():
                return verify(p, spec)
        return None

    def resolve(self, spec: WeightSpec, explicit: str | os.PathLike[str] | None = None) -> Path:
        """A verified local path for ``spec``: explicit path, search paths, cache, then download."""
        if explicit is not None:
            p = Path(explicit).expanduser()
            if not p.is_file():
                raise WeightsError(f"weights file {p} not found", "check the path given for it")
            return verify(p, spec)
        local = self.find_local(spec)
        if local is not None:
            return local
        if spec.url and self.allow_download:
            return self.download(spec)
        raise WeightsError(self._missing_message(spec), self._missing_hint(spec))

    def download(self, spec: WeightSpec) -> Path:
        """Download ``spec.url`` into the cache, verifying size and sha256 before it becomes visible."""
        if not spec.url:
            raise WeightsError(f"no download URL is known for {spec.file}", self._missing_hint(spec))
        target = self.cache_dir / spec.file
        h = hashlib.sha256()
        try:
            with atomic_path(target) as tmp:
                with urllib.request.urlopen(spec.url, timeout=self.timeout) as resp, open(tmp, "wb") as fh:
                    expected_len = resp.headers.get("Content-Length")
                    n = 0
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        fh.write(chunk)
                        h.update(chunk)
                        n += len(chunk)
                if expected_len is not None and n != int(expected_len):
                    raise WeightsError(
                        f"download of {spec.url} was interrupted ({n} of {expected_len} bytes); nothing was kept",
                        "run the command again, or download the file by hand: " + self._missing_hint(spec),
                    )
                if spec.sha256 and h.hexdigest() != spec.sha256.lower():
                    raise WeightsError(
                        f"download of {spec.url} has sha256 {h.hexdigest()}, expected {spec.sha256}; "
                        "the file was deleted",
                        "the file at that URL changed or is not the one the zoo expects; report it, or "
                        "supply the original file: " + self._missing_hint(spec),
                    )
        except urllib.error.HTTPError as exc:
            raise WeightsError(
                f"download of {spec.file} from {spec.url} failed: HTTP {exc.code} {exc.reason}",
                self._missing_hint(spec),
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(
                f"download of {spec.file} from {spec.url} failed ({reason}); nothing was kept",
                self._missing_hint(spec),
            ) from None
        return target

    def _missing_message(self, spec: WeightSpec) -> str:
        where = ", ".join(str(p) for p in self.candidates(spec) if PACKAGED not in p.parents)
        why = "downloads are off" if spec.url and not self.allow_download else "no download URL is known"
        return f"weights file {spec.file} not found (looked in: {where}; {why})"

    def _missing_hint(self, spec: WeightSpec) -> str:
        sha = f" (sha256 {spec.sha256})" if spec.sha256 else ""
        origin = f"get it from {spec.source}, then " if spec.source else ""
        return (
            f"{origin}put {Path(spec.file).name}{sha} at {self.cache_dir / spec.file}, or in a folder listed "
            f"in ${ENV_PATHS}"
        )
