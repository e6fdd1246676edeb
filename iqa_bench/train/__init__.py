"""Training zoo architectures with the benchmark's own degradation, metrics and conventions.

``iqa_bench.train.train(TrainConfig(...), data, out)``; the CLI is ``iqa-bench train``.
"""

from iqa_bench.train.loop import TrainConfig, TrainResult, train, validate, validation_metrics
from iqa_bench.train.losses import LossWeights

__all__ = ["LossWeights", "TrainConfig", "TrainResult", "train", "validate", "validation_metrics"]
