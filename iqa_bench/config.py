"""Where the project's TOML configs live: ``metrics/*.toml`` (suites) and ``runners/*.toml`` (zoo).

They sit at the top of the source tree; a wheel carries them under ``iqa_bench/_config/``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def config_file(relative: str) -> Path:
    """Path of a config file such as ``"runners/zoo.toml"`` (wheel copy first, then source tree)."""
    for base in (_PACKAGE / "_config", _PACKAGE.parent):
        p = base / relative
        if p.is_file():
            return p
    raise FileNotFoundError(f"config file {relative} is missing from the installation ({_PACKAGE})")


def load_toml(relative: str) -> dict[str, Any]:
    """Parse a config file named as in :func:`config_file`."""
    with open(config_file(relative), "rb") as fh:
        return tomllib.load(fh)
