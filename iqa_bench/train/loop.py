"""``iqa-bench train``: train a zoo architecture on HR images with the benchmark's own degradation.

One run is one folder: ``checkpoint.pt`` (everything needed to resume: networks, optimizers,
schedule, random states, log), ``{model}_x{scale}.pth`` (the final weights, a plain state_dict the
zoo loads) and ``train.json`` (configuration, losses, validation scores, seconds, sha256 of the
weights, library versions, CPU flags). Given a seed and a thread count, a run is deterministic, and
a run interrupted and resumed gives the weights of an uninterrupted one (tested).
"""

from __future__ import annotations

import io
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iqa_bench.errors import InputError
from iqa_bench.io import atomic_path
from iqa_bench.train.losses import LOSSES, LossWeights

VAL_METRICS = ("psnr_y", "ssim_y", "lpips")


@dataclass(frozen=True)
class TrainConfig:
    """One training run (all of it is recorded in ``train.json`` and checked on resume).

    Attributes
    ----------
    model
        Zoo model name: its architecture, parameters, input channels and value range.
    scale
        SR factor; the LR images are made from the HR ones by ``degradation``.
    steps
        Optimizer steps.
    batch, patch
        Patches per step; LR patch side in pixels (the HR patch is ``patch * scale``).
    lr
        Adam learning rate of the network, decayed to 1% of it on a cosine (``schedule="cosine"``)
        or constant.
    loss
        ``"l1"``, ``"l2"`` or ``"gan"`` (:class:`~iqa_bench.train.losses.LossWeights`).
    val_every
        Steps between validations and checkpoints (and one at the end).
    seed
        Seeds the initial weights, the patch positions and the augmentation.
    degradation
        Registered degradation that makes the LR images (``"matlab"``: the benchmark's).
    """

    model: str
    scale: int
    steps: int = 5000
    batch: int = 16
    patch: int = 32
    lr: float = 5e-4
    schedule: str = "cosine"
    loss: str = "l1"
    weights: LossWeights = field(default_factory=LossWeights)
    val_every: int = 500
    seed: int = 0
    degradation: str = "matlab"

    def __post_init__(self) -> None:
        for name in ("scale", "steps", "batch", "patch", "val_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"train {name} = {v!r} is not a positive whole number", f"pass --{name} N with N >= 1")
        if not self.lr > 0:
            raise InputError(f"learning rate {self.lr!r} is not positive", "e.g. --lr 5e-4")
        if self.loss not in LOSSES:
            raise InputError(f"unknown loss {self.loss!r}", f"use one of {', '.join(LOSSES)}")
        if self.schedule not in ("cosine", "constant"):
            raise InputError(f"unknown schedule {self.schedule!r}", "use cosine or constant")
        from iqa_bench.data.degrade import DEGRADATIONS

        if self.degradation not in DEGRADATIONS:
            raise InputError(f"unknown degradation {self.degradation!r}", f"use one of {', '.join(DEGRADATIONS)}")

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """Where a run left its files, and its last validation scores."""

    folder: Path
    weights: Path
    log: dict[str, Any]


def _lr_factor(cfg: TrainConfig) -> Callable[[int], float]:
    if cfg.schedule == "constant":
        return lambda step: 1.0
    return lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))


def validation_metrics(names: tuple[str, ...] = VAL_METRICS) -> tuple[dict[str, Any], dict[str, str]]:
    """``(metrics, skipped)``: the metrics of ``names`` ready to call, and why any could not be made
    (a learned metric whose weights are not on this machine is skipped, not fatal)."""
    from iqa_bench.metrics import create_metric
    from iqa_bench.weights import WeightsError

    metrics, skipped = {}, {}
    for m in names:
        try:
            metrics[m] = create_metric(m)
        except WeightsError as exc:
            skipped[m] = exc.message
    return metrics, skipped


def validate(net: Any, info: Any, cfg: TrainConfig, val_files: list[Path], metrics: dict[str, Any],
             device: str = "cpu") -> dict[str, float]:
    """Mean of each of ``metrics`` for ``net`` on ``val_files``, run and scored as ``evaluate`` does:
    the LR image by the same degradation, the runner's own input/colour handling, the output
    quantised to uint8, ``scale`` pixels of border cropped."""
    from iqa_bench.data.degrade import DEGRADATIONS, modcrop
    from iqa_bench.io import quantize_uint8, read_image
    from iqa_bench.runners.torch_runner import TorchUpscaler

    up = TorchUpscaler.wrapping(info, cfg.scale, net, device=device)
    scores: dict[str, list[float]] = {m: [] for m in metrics}
    was_training = net.training
    net.eval()
    c = cfg.scale
    for path in val_files:
        hr = modcrop(read_image(path, drop_alpha=True)[0], cfg.scale)
        sr = quantize_uint8(up.upscale(DEGRADATIONS[cfg.degradation](hr, cfg.scale), cfg.scale))
        for m, fn in metrics.items():
            scores[m].append(float(fn(sr[c:-c, c:-c], hr[c:-c, c:-c])))
    net.train(was_training)
    return {m: float(np.mean(v)) for m, v in scores.items()}


def train(cfg: TrainConfig, data: str | Path, out: str | Path, *, val: str | Path | None = None, val_holdout: int = 4,
          device: str = "cpu", restart: bool = False, fp16_weights: bool = False,
          on_total: Callable[[int], None] | None = None, on_step: Callable[[str], None] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` on the HR images of ``data``; write ``out`` (see the module docstring).

    Parameters
    ----------
    data
        Folder of HR training images (never a test set).
    val, val_holdout
        Validation images: the folder ``val``, else the last ``val_holdout`` images of ``data``
        (by name), which are then not trained on.
    restart
        Start over even when ``out`` holds a checkpoint (by default a run resumes from it; a
        checkpoint of another configuration is refused).
    fp16_weights
        Store the final weights in float16 (half the size; the zoo loads them into float32).
    on_total, on_step
        Progress callbacks: the number of steps left, then once per step with a short label.
    stop_after
        Stop (checkpointed) after this many steps of this call, as if interrupted (tests).
    """
    import torch

    from iqa_bench._cpu import cpu_description
    from iqa_bench.models import MODELS
    from iqa_bench.models.archs import build_network
    from iqa_bench.runners.base import check_device
    from iqa_bench.train.data import PatchSampler, load_pairs, split_folder
    from iqa_bench.train.losses import Objective
    from iqa_bench.weights import sha256_of

    check_device(device)
    info = MODELS.get(cfg.model).meta
    if info.arch == "interp":
        raise InputError(f"{cfg.model} is an interpolation, it has nothing to train", "pick a learned zoo model")
    if info.scales and cfg.scale not in info.scales:
        raise InputError(f"{cfg.model} is defined for x{', x'.join(map(str, info.scales))}, not x{cfg.scale}",
                         f"add {cfg.scale} to its zoo entry's scales, or train another scale")
    out = Path(out)
    data = Path(data)
    if val is not None:
        train_files, val_files = split_folder(data, 0)[0], split_folder(val, 0)[0]
    else:
        train_files, val_files = split_folder(data, val_holdout)
    dev = torch.device(device)

    torch.manual_seed(cfg.seed)
    net = build_network(info, cfg.scale, None).train().to(dev)
    shrink = int(getattr(net, "shrink", 0))
    sampler = PatchSampler(load_pairs(train_files, info, cfg.scale, cfg.degradation), cfg.scale, cfg.patch, shrink)
    channels = 1 if info.input == "y" else 3
    objective = Objective(cfg.loss, info.value_range, cfg.weights, channels, dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg))
    d_opt = torch.optim.Adam(objective.disc.parameters(), lr=1e-4, betas=(0.5, 0.999)) if objective.disc else None
    rng = np.random.default_rng(cfg.seed)
    metrics, skipped = validation_metrics() if val_files else ({}, {})
    log: dict[str, Any] = {"config": cfg.record(), "train_images": len(sampler.pairs),
                           "val_images": [p.name for p in val_files], "val_skipped": skipped, "history": [],
                           "seconds": 0.0}
    step = 0

    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.is_file() and not restart:
        try:
            ckpt = torch.load(ckpt_path, map_location=dev, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a torn or foreign file: say which and how to go on
            raise InputError(f"checkpoint {ckpt_path} cannot be read ({type(exc).__name__}: {exc})",
                             "delete it, or pass --restart to start over") from None
        if ckpt["log"]["config"] != log["config"]:
            raise InputError(f"checkpoint {ckpt_path} was made with another configuration",
                             "pass the same options to resume it, --restart to overwrite it, or another --out")
        net.load_state_dict(ckpt["net"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        if d_opt is not None:
            objective.disc.load_state_dict(ckpt["disc"])  # type: ignore[union-attr]
            d_opt.load_state_dict(ckpt["d_opt"])
        rng.bit_generator.state = ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        step, log = ckpt["step"], ckpt["log"]

    def save_checkpoint() -> None:
        state = {"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                 "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "log": log}
        if d_opt is not None:
            state.update(disc=objective.disc.state_dict(), d_opt=d_opt.state_dict())  # type: ignore[union-attr]
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)

    if on_total:
        on_total(cfg.steps - step)
    t0, done_here = time.perf_counter(), 0
    running: dict[str, list[float]] = {}
    while step < cfg.steps:
        x, y = (torch.from_numpy(a).to(dev) for a in sampler.batch(rng, cfg.batch))
        pred = net(x)
        loss, terms = objective.generator(pred, y, step)
        if not torch.isfinite(loss):
            save_checkpoint()
            raise InputError(f"{cfg.model} x{cfg.scale}: the loss became {float(loss)} at step {step}",
                             f"lower --lr (now {cfg.lr}); {ckpt_path} holds the last finite state")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if d_opt is not None and objective.adversarial(step):
            d_loss = objective.discriminator(pred, y)
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            terms["disc"] = d_loss.item()
        for k, v in terms.items():
            running.setdefault(k, []).append(v)
        step += 1
        done_here += 1
        if on_step:
            on_step(f"step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in terms.items()))
        if step % cfg.val_every == 0 or step == cfg.steps or done_here == stop_after:
            entry: dict[str, Any] = {"step": step, "lr": sched.get_last_lr()[0],
                                     **{k: float(np.mean(v)) for k, v in running.items()}}
            running = {}
            if val_files:
                entry["val"] = validate(net, info, cfg, val_files, metrics, device)
            log["history"].append(entry)
            log["seconds"] = round(log["seconds"] + time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            save_checkpoint()
            if done_here == stop_after:
                break

    weights = out / f"{cfg.model}_x{cfg.scale}.pth"
    if step >= cfg.steps:
        sd = {k: (v.half() if fp16_weights and v.is_floating_point() else v).cpu() for k, v in net.state_dict().items()}
        buf = io.BytesIO()  # not saved to the temporary path: torch names the archive after the file, so
        torch.save(sd, buf)  # the same weights would hash differently from run to run
        with atomic_path(weights) as tmp:
            tmp.write_bytes(buf.getvalue())
        log.update(weights=weights.name, sha256=sha256_of(weights), fp16_weights=fp16_weights,
                   versions={"torch": torch.__version__, "python": platform.python_version()},
                   threads=torch.get_num_threads(), cpu=cpu_description(), device=device)
        with atomic_path(out / "train.json") as tmp:
            tmp.write_text(json.dumps(log, indent=1))
    return TrainResult(out, weights, log)
