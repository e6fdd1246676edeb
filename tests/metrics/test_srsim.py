"""SR-SIM: its size limit (its value and cached path: test_piq_reimplementations.py)."""

from __future__ import annotations

import pytest

from iqa_bench.errors import InputError
from iqa_bench.metrics import METRICS


def test_too_small_an_image_is_refused_with_the_fix(img):
    small = img("I01.BMP")[:30, :60]  # its quarter-size copy is smaller than the 10x10 Gaussian
    with pytest.raises(InputError, match="(?s)cannot score a 60x30 image.*drop srsim"):
        METRICS.create("srsim")(small, small)
