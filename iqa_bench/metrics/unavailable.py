"""Metrics the SR literature reports whose weights cannot be obtained with this install.

They are registered so that ``iqa-bench list metrics`` shows them with the file each needs, and so
that asking for one by name gives a clear error instead of "unknown metric". They are never
computed with random or substitute weights. A plugin that provides one registers it under the same
name with ``replace=True``.
"""

from __future__ import annotations

from iqa_bench.errors import MetricUnavailableError
from iqa_bench.metrics.base import MetricInfo
from iqa_bench.registry import Registry
from iqa_bench.weights import WeightSpec

_UNKNOWN_HASH = "no official sha256 is published; the hash of the file you supply is recorded in the run manifest"

UNAVAILABLE: dict[str, tuple[MetricInfo, str]] = {
    "nrqm": (
        MetricInfo(
            kind="nr", higher_is_better=True, value_range=(0.0, 10.0), colour="rgb", crop="scale", perceptual=True,
            description="Ma et al. 2017 NRQM ('Ma score'): 3 regression forests on DCT/wavelet/PCA features",
            weights=(WeightSpec("nr/nrqm_forests.mat", None, source="the authors' MATLAB release (chaoma99/sr-metric, model/*.mat)"),),
            unavailable="the regression forests ship only as MATLAB .mat trees in the authors' release; no "
            "reimplementation is calibrated against it here",
        ),
        _UNKNOWN_HASH,
    ),
    "pi": (
        MetricInfo(
            kind="nr", higher_is_better=False, value_range=(0.0, 10.0), colour="y_bt601 (NIQE) + rgb (NRQM)", perceptual=True,
            crop="scale", description="Perceptual Index (PIRM 2018) = ((10 - NRQM) + NIQE) / 2",
            weights=(WeightSpec("nr/nrqm_forests.mat", None, source="as for nrqm"),),
            unavailable="needs NRQM (see nrqm); NIQE alone is available as 'niqe'",
        ),
        _UNKNOWN_HASH,
    ),
    "pieapp": (
        MetricInfo(
            kind="fr", higher_is_better=False, value_range=(float("-inf"), float("inf")), colour="rgb", perceptual=True,
            crop="scale", description="PieAPP (Prashnani et al. 2018), pairwise-preference network, 64x64 patches",
            weights=(WeightSpec("fr/PieAPPv0.1.pth", None, source="the PieAPP authors' PyTorch weights (prashnani/PerceptualImageError)"),),
            unavailable="its trained network weights are not available offline",
        ),
        _UNKNOWN_HASH,
    ),
    "niqe_matlab": (
        MetricInfo(
            kind="nr", higher_is_better=False, value_range=(0.0, float("inf")), colour="grey (MATLAB rgb2gray)",
            crop="scale", perceptual=True,
            description="NIQE as MATLAB's Image Processing Toolbox computes it (niqe), with its built-in model",
            weights=(WeightSpec("nr/niqe_matlab_model.mat", None,
                                source="MATLAB Image Processing Toolbox (the default model of niqe)"),),
            unavailable="MATLAB's built-in NIQE model ships only with MATLAB; 'niqe' is the LIVE release's model "
            "(the SR papers' NIQE)",
        ),
        _UNKNOWN_HASH,
    ),
    "brisque_matlab": (
        MetricInfo(
            kind="nr", higher_is_better=False, value_range=(float("-inf"), float("inf")),
            colour="grey (MATLAB rgb2gray)", crop="scale", perceptual=True,
            description="BRISQUE as MATLAB's Image Processing Toolbox computes it (brisque), with its built-in model",
            weights=(WeightSpec("nr/brisque_matlab_model.mat", None,
                                source="MATLAB Image Processing Toolbox (the default model of brisque)"),),
            unavailable="MATLAB's built-in BRISQUE model ships only with MATLAB; 'brisque' is the LIVE release's "
            "model",
        ),
        _UNKNOWN_HASH,
    ),
    "clipiqa": (
        MetricInfo(
            kind="nr", higher_is_better=True, value_range=(0.0, 1.0), colour="rgb", crop="none", perceptual=True,
            description="CLIP-IQA (Wang et al. 2023), CLIP RN50 with antonym prompts",
            weights=(
                WeightSpec(
                    "nr/clip_RN50.pt",
                    "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762",
                    url="https://openaipublic.azureedge.net/clip/models/"
                    "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
                    source="OpenAI CLIP RN50 (the URL carries its sha256)",
                ),
            ),
            unavailable="CLIP RN50 weights and a tokenizer are not installed; no calibrated implementation here",
        ),
        "",
    ),
}


def _factory(name: str, info: MetricInfo, note: str):
    def create(**_: object) -> None:
        spec = info.weights[0]
        sha = f"sha256 {spec.sha256}" if spec.sha256 else note
        raise MetricUnavailableError(
            f"metric {name!r} is not available: {info.unavailable}",
            f"it needs {spec.file} ({sha}; from {spec.source}); drop {name} from --metrics, or install a "
            f"plugin that registers {name!r}",
        )

    return create


def register(reg: Registry[MetricInfo]) -> None:
    """Register the unavailable metrics (listed, never computed)."""
    for name, (info, note) in UNAVAILABLE.items():
        reg.register(name, _factory(name, info, note), info)
