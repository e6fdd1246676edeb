"""``score()``: metrics on image pairs (or single images for NR metrics), no SR involved.

Like pyiqa's command line: two files, or two folders whose images are matched by file stem. Images
are scored as read (uint8/uint16 -> [0, 1]); ``crop`` removes that many pixels from every border
first (the SR convention uses the scale factor; default 0).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from iqa_bench.errors import InputError
from iqa_bench.io import list_images, read_image, to_float
from iqa_bench.metrics import METRICS, create_metric
from iqa_bench.runners.base import check_device


def pair_files(ref: Path | None, dist: Path) -> list[tuple[str, Path | None, Path]]:
    """``(name, ref_file, dist_file)`` triples; folders are matched by file stem."""
    if dist.is_dir():
        if ref is not None and not ref.is_dir():
            raise InputError(f"{dist} is a folder but {ref} is not", "pass two files or two folders")
        dists = {p.stem: p for p in list_images(dist)}
        if not dists:
            raise InputError(f"no images in {dist}", "point DIST at a folder of images")
        if ref is None:
            return [(n, None, p) for n, p in sorted(dists.items())]
        refs = {p.stem: p for p in list_images(ref)}
        missing = sorted(set(dists) - set(refs))
        if missing:
            raise InputError(
                f"{len(missing)} image(s) in {dist} have no reference of the same name in {ref}: "
                + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
                "name each distorted image like its reference (any extension), or remove it",
            )
        return [(n, refs[n], p) for n, p in sorted(dists.items())]
    if ref is not None and ref.is_dir():
        raise InputError(f"{ref} is a folder but {dist} is not", "pass two files or two folders")
    return [(dist.stem, ref, dist)]


def _crop(img: np.ndarray, c: int) -> np.ndarray:
    return img[c:-c, c:-c] if c else img


def score(
    ref: Path | None,
    dist: Path,
    metrics: list[str],
    *,
    crop: int | None = None,
    scale: int | None = None,
    drop_alpha: bool = False,
    device: str = "cpu",
) -> dict[str, dict]:
    """Score ``dist`` against ``ref`` with each metric.

    Border crop follows one rule with ``evaluate``: with ``scale``, a metric whose metadata says
    ``crop="scale"`` (the SR convention: PSNR, SSIM, LPIPS...) drops ``scale`` pixels from every
    border and the others none; ``crop`` instead drops that many pixels for every metric; neither:
    no crop. The crop used is returned with each metric's values.

    Returns
    -------
    dict
        ``{metric: {"per_image": {name: value}, "mean": value, "crop": pixels}}``; the mean is over
        finite values (``+inf``, identical images under PSNR, is kept per image and left out of it).
    """
    check_device(device)
    if crop is not None and scale is not None:
        raise InputError("--crop and --scale both given", "pass --scale S (the SR rule) or --crop N (every metric)")
    if scale is not None and scale < 1:
        raise InputError(f"--scale {scale} is not a positive integer", "e.g. --scale 4")
    entries = [METRICS.get(m) for m in metrics]
    needs_ref = [e.name for e in entries if e.meta.kind == "fr"]
    if needs_ref and ref is None:
        raise InputError(f"{', '.join(needs_ref)} need a reference image", "pass REF DIST")
    if crop is not None and crop < 0:
        raise InputError(f"--crop {crop} is negative", "pass a number of pixels >= 0")
    fns = {}
    for e in entries:
        if e.meta.kind not in ("fr", "nr"):
            raise InputError(f"metric {e.name!r} is a {e.meta.kind} metric", "score clips with the video commands")
        fns[e.name] = create_metric(e.name, device=device if device in e.meta.devices else None)
    crops = {e.name: crop if crop is not None else (scale if scale and e.meta.crop == "scale" else 0) for e in entries}
    result: dict[str, dict] = {e.name: {"per_image": {}, "mean": math.nan, "crop": crops[e.name]} for e in entries}
    for name, ref_path, dist_path in pair_files(ref, dist):
        d = to_float(read_image(dist_path, drop_alpha=drop_alpha)[0])
        r = None
        if ref_path is not None and needs_ref:
            r = to_float(read_image(ref_path, drop_alpha=drop_alpha)[0])
            if r.shape != d.shape:
                raise InputError(
                    f"{dist_path} is {d.shape[1]}x{d.shape[0]}x{d.shape[2]} but its reference {ref_path} is "
                    f"{r.shape[1]}x{r.shape[0]}x{r.shape[2]}",
                    "full-reference metrics need images of the same size and channel count",
                )
        if min(d.shape[:2]) <= 2 * max(crops.values()):
            raise InputError(f"a crop of {max(crops.values())} pixels leaves nothing of {dist_path}",
                             "use a smaller --crop or --scale")
        for e in entries:
            fn, c = fns[e.name], crops[e.name]
            try:
                value = fn(_crop(d, c)) if e.meta.kind == "nr" else fn(_crop(d, c), _crop(r, c))
            except InputError as exc:
                raise InputError(f"{dist_path}: {exc.message}", exc.hint) from None
            result[e.name]["per_image"][name] = float(value)
    for m, rec in result.items():
        finite = [v for v in rec["per_image"].values() if math.isfinite(v)]
        rec["mean"] = float(np.mean(finite)) if finite else math.nan
    return result
