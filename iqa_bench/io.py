"""Image reading and writing with input validation, and atomic file writes.

Images are ``(H, W, C)`` numpy arrays with C = 1 (grey) or 3 (RGB), uint8 for 8-bit files and uint16
for 16-bit files; :func:`to_float` maps either to float64 in [0, 1]. Grey stays single-channel (the
metrics decide what a grey image means for them); RGBA is an error unless the caller drops alpha.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import png  # pypng: Pillow truncates 16-bit RGB PNGs to 8 bits, pypng does not
from PIL import Image, UnidentifiedImageError

from iqa_bench.errors import InputError, is_storage_error

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".webp")


def round_half_up_uint8(img: np.ndarray) -> np.ndarray:
    """Clip to [0, 255] and round half away from zero to uint8, as MATLAB's uint8 conversion does."""
    return np.floor(np.clip(img, 0.0, 255.0) + 0.5).astype(np.uint8)


@dataclass(frozen=True)
class ImageInfo:
    """How a file was read: its original layout and what was done to it."""

    path: str
    channels: int  # after conversion: 1 or 3
    bit_depth: int  # 8 or 16
    source_mode: str  # e.g. "RGB", "L", "RGBA", "P", "I;16", "png16-rgb"
    handling: str  # "" or a note such as "alpha dropped", "palette expanded to RGB"


def _read_png16(path: Path) -> tuple[np.ndarray, str, bool]:
    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asDirect()
    # pypng has no decompression-bomb guard (a 12000x12000 PNG of 0.3 MB would take GBs): apply
    # Pillow's limit, read from the header before a single row is decoded.
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise InputError(f"{path} is {width}x{height} pixels, more than the {Image.MAX_IMAGE_PIXELS} pixels allowed "
                         "(a possible decompression bomb)", "crop or downscale the image, or check where it came from")
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, info["planes"])
    has_alpha = bool(info["alpha"])
    mode = f"png16-{'grey' if info['greyscale'] else 'rgb'}{'a' if has_alpha else ''}"
    return arr, mode, has_alpha


def _png_bit_depth(path: Path) -> int | None:
    with open(path, "rb") as fh:
        head = fh.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 25:
        return None
    return head[24]


def read_image(path: str | os.PathLike[str], *, drop_alpha: bool = False) -> tuple[np.ndarray, ImageInfo]:
    """Read and validate an image file.

    Parameters
    ----------
    path
        PNG (8 or 16 bit), BMP, JPEG, TIFF, GIF, PPM/PGM or WebP file.
    drop_alpha
        Drop an alpha channel instead of refusing the image.

    Returns
    -------
    ``(array, info)``: ``(H, W, 1|3)`` uint8 or uint16 array and how it was read.

    Raises
    ------
    InputError
        Missing, truncated or undecodable file; an alpha channel without ``drop_alpha``; an
        unsupported pixel format.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image file not found: {p}", "check the path")
    handling: list[str] = []
    try:
        if _png_bit_depth(p) == 16:
            arr, mode, has_alpha = _read_png16(p)
            handling.append("16-bit, scaled to [0, 1] by 1/65535")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(p) as im:
                    im.load()
                    mode = im.mode
                    if mode == "P":
                        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                        handling.append("palette expanded")
                    elif mode in ("1", "CMYK", "YCbCr"):
                        im = im.convert("L" if mode == "1" else "RGB")
                        handling.append(f"{mode} converted")
                    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                        arr = np.asarray(im).astype(np.uint16)[..., None]
                        handling.append("16-bit, scaled to [0, 1] by 1/65535")
                    elif im.mode in ("L", "LA", "RGB", "RGBA"):
                        arr = np.asarray(im, dtype=np.uint8)
                        if arr.ndim == 2:
                            arr = arr[..., None]
                    else:
                        raise InputError(
                            f"unsupported pixel format {im.mode!r} in {p}",
                            "convert the image to 8- or 16-bit grey or RGB (e.g. PNG)",
                        )
                    has_alpha = im.mode in ("LA", "RGBA")
    except InputError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, png.Error) as exc:
        raise InputError(
            f"cannot decode image file {p}: {exc}",
            "the file is truncated or corrupt; re-export it or remove it from the folder",
        ) from exc
    if has_alpha:
        if not drop_alpha:
            raise InputError(
                f"{p} has an alpha channel ({mode}); metrics are not defined on transparency",
                "remove the alpha channel, or pass --drop-alpha to ignore it",
            )
        arr = arr[..., :-1]
        handling.append("alpha dropped")
    if mode.startswith("L") or mode.startswith("png16-grey") or mode.startswith("I"):
        handling.append("grey, kept single-channel")
    info = ImageInfo(
        path=str(p),
        channels=arr.shape[2],
        bit_depth=16 if arr.dtype == np.uint16 else 8,
        source_mode=mode,
        handling="; ".join(handling),
    )
    return np.ascontiguousarray(arr), info


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 -> /255, uint16 -> /65535, float -> float64 unchanged; result in [0, 1] for integer input."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float64) / 65535.0
    return img.astype(np.float64, copy=False)


def quantize_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8: scale by 255, clip, round half away from zero (the image as saved)."""
    return round_half_up_uint8(np.asarray(img, dtype=np.float64) * 255.0)


def _umask() -> int:
    # read by setting and restoring: the only portable way to read the process umask
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path`` atomically.

    A process killed mid-write leaves the old file (or none), never a partial one. The file gets
    the permissions a plain ``open`` would give (``mkstemp`` makes it owner-only).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None and is_storage_error(exc):  # a failed write() names no file: name ours
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def png_bytes(img: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """An ``(H, W, 1|3)`` uint8 image encoded as PNG, with optional ``text`` chunks (the bytes
    :func:`write_png` writes)."""
    import io as _io

    if img.dtype != np.uint8:
        raise TypeError(f"write_png expects uint8, got {img.dtype}")
    arr = img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img
    info = None
    if text:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_png(path: str | os.PathLike[str], img: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write an ``(H, W, 1|3)`` uint8 image as PNG, atomically, with optional ``text`` chunks."""
    write_bytes(path, png_bytes(img, text))


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def png_text(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text chunks of a PNG file (empty for none, or for a file Pillow cannot read)."""
    try:
        with Image.open(path) as im:
            return dict(getattr(im, "text", {}) or {})
    except (OSError, ValueError):
        return {}


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    d = Path(folder)
    return sorted(
        p for p in d.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
