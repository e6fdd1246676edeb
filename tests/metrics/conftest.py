"""Fixtures of the metric tests."""

from __future__ import annotations

import pytest

from iqa_bench.io import read_image, to_float


@pytest.fixture(scope="module")
def img(shared):
    """``img(name)``: an oracle image of ``../shared/oracles/images`` as float (H, W, C) on [0, 1]."""
    return lambda name: to_float(read_image(shared / "oracles" / "images" / name, drop_alpha=True)[0])
