"""HaarPSI: its size limit (its value and cached path: test_piq_reimplementations.py)."""

from __future__ import annotations

import pytest

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS


def test_too_small_an_image_is_refused_with_the_fix(img):
    small = img("I01.BMP")[:15, :40]
    with pytest.raises(InputError, match="(?s)at least 16.*drop haarpsi"):
        METRICS.create("haarpsi")(small, small)
