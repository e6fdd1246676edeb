"""The standard SR benchmark datasets by name (``--dataset Set5``), with where they come from.

A benchmark resolves, in order, to: a folder ``<dir>/<Name>`` in one of the directories listed in
``$IQA_BENCH_DATA`` (``os.pathsep``-separated), the user cache ``~/.cache/iqa-bench/datasets/<Name>``
(``$IQA_BENCH_CACHE/../datasets``), or a download of its archive (sha256-verified like a weights file,
then extracted into the cache). Folders use the layouts of :mod:`iqa_bench.data.datasets`
(``HR/`` + optional ``LR_bicubic/X{s}/``, or a plain folder of HR images). Offline and missing, the
error names the folder to create, where the images come from and their licence.

None of these datasets is redistributed under a licence that lets this project ship or mirror it,
and none of their usual download links serves a file with a published checksum, so no archive URL
is configured: a user puts the folder in place once (the error says where).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from iqa_bench.errors import InputError
from iqa_bench.weights import WeightsError, WeightSpec, WeightsStore, default_cache_dir

ENV_DATA = "IQA_BENCH_DATA"


@dataclass(frozen=True)
class Benchmark:
    """One standard benchmark: canonical name (the ``dataset`` column of results), description,
    where to get it, its licence, its image count, and the archive spec (``url`` only where the file
    at that address is the one ``sha256`` names)."""

    name: str
    description: str
    source: str
    license: str
    images: int
    archive: WeightSpec


def _bench(name: str, description: str, source: str, license: str, images: int) -> Benchmark:
    return Benchmark(name, description, source, license, images, WeightSpec(f"datasets/{name}.zip", source=source))


BENCHMARKS: dict[str, Benchmark] = {b.name.lower(): b for b in (
    _bench("Set5", "Bevilacqua et al., BMVC 2012",
           "the SelfExSR release (github.com/jbhuang0604/SelfExSR) or BasicSR's benchmark archive", "research use", 5),
    _bench("Set14", "Zeyde et al., 2010; bridge is grey",
           "the SelfExSR release (github.com/jbhuang0604/SelfExSR) or BasicSR's benchmark archive", "research use", 14),
    _bench("B100", "natural images, the BSD300 test split (Martin et al., ICCV 2001)",
           "the SelfExSR release (BSD100) or BasicSR's benchmark archive",
           "BSDS: non-commercial research and education", 100),
    _bench("Urban100", "urban scenes with regular structure (Huang et al., CVPR 2015)",
           "the SelfExSR release (github.com/jbhuang0604/SelfExSR)", "research use", 100),
    _bench("Manga109", "one image per manga volume (Matsui et al., 2017)",
           "manga109.org (by request to the authors)", "academic use only, per the Manga109 terms", 109),
    _bench("General100", "Dong et al., ECCV 2016 (FSRCNN)",
           "the FSRCNN project page (mmlab.ie.cuhk.edu.hk/projects/FSRCNN.html)", "research use", 100),
    _bench("DIV2K_valid", "the 2K validation images of DIV2K (Agustsson and Timofte, CVPRW 2017)",
           "data.vision.ee.ethz.ch/cvl/DIV2K (DIV2K_valid_HR.zip)", "academic research only", 100),
)}


def data_dirs() -> list[Path]:
    """Folders searched for ``<Name>/``: ``$IQA_BENCH_DATA`` in order, then the cache."""
    listed = [Path(p).expanduser() for p in os.environ.get(ENV_DATA, "").split(os.pathsep) if p]
    return [*listed, dataset_cache_dir()]


def dataset_cache_dir() -> Path:
    """``datasets/`` beside the weights cache (``~/.cache/iqa-bench/datasets``)."""
    return default_cache_dir().parent / "datasets"


def locate(bench: Benchmark, store: WeightsStore | None = None) -> Path:
    """The folder of ``bench``: found, or downloaded and extracted into the cache; else a clear error."""
    for d in data_dirs():
        if (d / bench.name).is_dir():
            return d / bench.name
    store = store or WeightsStore(cache_dir=dataset_cache_dir().parent / "downloads")
    if bench.archive.url and store.allow_download:
        try:
            archive = store.resolve(bench.archive)
        except WeightsError as exc:
            raise InputError(exc.message, exc.hint) from None
        return _extract(archive, bench)
    dirs = ", ".join(str(d / bench.name) for d in data_dirs())
    why = "downloads are off" if bench.archive.url else "no download URL with a known sha256 exists"
    raise InputError(
        f"dataset {bench.name} not found (looked in: {dirs}; {why})",
        f"get it from {bench.source} ({bench.license}); put its images in {data_dirs()[0] / bench.name} "
        f"(HR/ and optional LR_bicubic/X{{s}}/, or the HR images directly) or set ${ENV_DATA} to a folder holding "
        f"{bench.name}/",
    )


def _extract(archive: Path, bench: Benchmark) -> Path:
    """Unpack ``archive`` into the cache as ``<Name>/`` (atomically: a temporary folder, then a rename)."""
    target = dataset_cache_dir() / bench.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{bench.name}.", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():  # refuse absolute paths and .. (zip slip)
                if member.startswith("/") or ".." in Path(member).parts:
                    raise InputError(f"archive {archive} has an unsafe path {member!r}", "use the original archive")
            zf.extractall(tmp)
        entries = [p for p in tmp.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        if not target.exists():
            os.replace(root, target)
    except zipfile.BadZipFile as exc:
        raise InputError(f"archive {archive} is not a valid zip file ({exc})", "delete it and fetch it again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
