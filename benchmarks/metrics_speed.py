"""Per-metric time per image of iqa-bench, piq (or the library a metric wraps) and pyiqa, side by side.

Images: ``Set14`` HR (mod-crop 4) and the x4 MATLAB-bicubic upscale of its LR files, border crop 4;
the grey ``bridge`` is replicated to RGB here so that every implementation sees the same
3-channel input. Each implementation gets its own preferred input, prepared outside the timed
region: iqa-bench numpy float64 arrays (its API), piq/pyiqa float32 NCHW tensors. Times are medians
over ``--repeats`` rounds of the mean per image, after one warm-up image, in one process; within a
round the implementations of one metric take turns (the order rotating), so that drift on a shared
machine shows in all of them alike.

The second table is a whole suite over 8 models' outputs (bicubic, bilinear, nearest, Lanczos,
FSRCNN, VDSR, SRGAN, Real-ESRGAN; skipped when their weights are missing): iqa-bench scores the
way its engine does (reference-side work once per HR image, every model's output of one HR image
scored together, LPIPS/DISTS in batched forward passes) and, for comparison, one output at a time;
pyiqa with one metric object per metric reused for every pair.

In the first table, "iqa-bench ms" is a direct call ``metric(sr, hr)`` on numpy arrays (their
conversion to tensors included, which piq's and pyiqa's columns get done outside the timed region);
"cached ms" is how the engine scores a metric that can reuse HR-side work (``compare(sr,
reference(hr))``, the reference made once per HR image for every model's output, untimed).

pyiqa is never a dependency of iqa-bench (it is licensed for non-commercial use only); install it
beside the project for this benchmark only (no-deps: its full requirement list pulls transformers,
bitsandbytes, datasets...; the metrics timed here need only these)::

    pip install --target .bench-env/site --no-deps -r benchmarks/pyiqa-requirements.txt
    PYTHONPATH=.bench-env/site IQA_BENCH_WEIGHTS=../shared/weights python benchmarks/metrics_speed.py

Nothing downloads: the pretrained files pyiqa, piq and lpips would fetch are served from the
weights folder (``--weights``) by patching their loaders inside this process only, and each
implementation's mean value is printed so that a wrongly loaded network shows. Without pyiqa
importable its column is empty. Prints two tables and writes JSON (default
``benchmarks/results/metrics_speed.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iqa_bench._cpu import cpu_flags
from iqa_bench.data.colour import luma
from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import modcrop
from iqa_bench.engine import _score, _score_cells
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.metrics.base import ReferenceCached
from iqa_bench.models import MODELS
from iqa_bench.runners import RUNNERS
from iqa_bench.weights import WeightsError

SCALE = 4
SUITE_MODELS = ["bicubic", "bilinear", "nearest", "lanczos", "fsrcnn", "vdsr", "srgan", "realesrgan_x4plus"]


# --------------------------------------------------------------------------- offline pretrained files
_TORCHVISION_FEATURES = {
    "alexnet": "perceptual/alexnet_features_imagenet_torchvision.pth",
    "vgg16": "perceptual/vgg16_features_imagenet_torchvision.pth",
    "squeezenet1_1": "perceptual/squeezenet1_1_features_imagenet_torchvision.pth",
}


@contextlib.contextmanager
def offline_pretrained(weights: Path) -> Iterator[None]:
    """Serve torchvision ImageNet trunks and piq's DISTS file from ``weights`` instead of the network.

    Our trunk files hold only ``features.*`` (see ../shared/README.md), so the constructors are
    wrapped: the model is built without weights and its features loaded strictly; the classifier
    (unused by LPIPS/DISTS) stays random.
    """
    import torchvision.models as tvm

    originals = {name: getattr(tvm, name) for name in _TORCHVISION_FEATURES}

    def wrap(name: str) -> Callable[..., torch.nn.Module]:
        def build(*args: Any, weights: Any = None, pretrained: bool = False, **kwargs: Any) -> torch.nn.Module:
            model = originals[name](weights=None, **kwargs)
            if weights is not None or pretrained:
                state = torch.load(weights_dir / _TORCHVISION_FEATURES[name], map_location="cpu", weights_only=True)
                model.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
            return model
        return build

    weights_dir = weights
    hub_files = {"dists_weights.pt": weights / "perceptual" / "dists_weights.pt",
                 "brisque_svm_weights.pt": weights / "nr" / "brisque_svm_weights_from_live_allmodel.pt"}
    hub_original = torch.hub.load_state_dict_from_url

    def hub(url: str, *args: Any, map_location: Any = "cpu", **kwargs: Any) -> Any:
        name = url.rsplit("/", 1)[-1]
        if name not in hub_files:
            raise RuntimeError(f"benchmark is offline: no local copy of {url}")
        state = torch.load(hub_files[name], map_location=map_location, weights_only=True)
        if name == "brisque_svm_weights.pt":  # piq's released file is float32; ours keeps LIVE's doubles
            state = [t.float() for t in state]
        return state

    try:
        for name in _TORCHVISION_FEATURES:
            setattr(tvm, name, wrap(name))
        torch.hub.load_state_dict_from_url = hub
        # piq imported these names at its import time (and piq.brisque is also a function's name)
        piq_perceptual, piq_brisque = (importlib.import_module(f"piq.{m}") for m in ("perceptual", "brisque"))
        piq_perceptual.vgg16 = tvm.vgg16
        piq_brisque.load_url = hub
        yield
    finally:
        for name, fn in originals.items():
            setattr(tvm, name, fn)
        torch.hub.load_state_dict_from_url = hub_original
        piq_perceptual.vgg16 = originals["vgg16"]
        piq_brisque.load_url = hub_original


# --------------------------------------------------------------------------- implementations
@dataclass
class Pair:
    name: str
    sr: np.ndarray  # float64 (H, W, 3) in [0, 1], cropped
    hr: np.ndarray
    sr_t: torch.Tensor  # float32 (1, 3, H, W)
    hr_t: torch.Tensor


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)).unsqueeze(0)


def _piq_luma(x: torch.Tensor) -> torch.Tensor:
    # piq has no BT.601 luma: give it ours (computed in the timed call, as a user would).
    return _t(luma(x[0].permute(1, 2, 0).double().numpy()))


def piq_impls(weights: Path) -> dict[str, Callable[[torch.Tensor, torch.Tensor], float]]:
    """The piq (or lpips-package) call each iqa-bench metric corresponds to, with piq's defaults
    except where that would compute something else (data_range, downsample off, chromatic flag)."""
    import lpips
    import piq

    def f(fn: Callable[..., torch.Tensor], **kw: Any) -> Callable[[torch.Tensor, torch.Tensor], float]:
        return lambda x, y: float(fn(x, y, data_range=1.0, **kw))

    impls: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
        "psnr": f(piq.psnr),
        "psnr_y": lambda x, y: float(piq.psnr(_piq_luma(x), _piq_luma(y), data_range=1.0)),
        "ssim": f(piq.ssim, downsample=False),
        "ssim_y": lambda x, y: float(piq.ssim(_piq_luma(x), _piq_luma(y), data_range=1.0, downsample=False)),
        "ms_ssim": f(piq.multi_scale_ssim),
        "iw_ssim": f(piq.information_weighted_ssim),
        "fsim": f(piq.fsim, chromatic=False),
        "fsimc": f(piq.fsim, chromatic=True),
        "vsi": f(piq.vsi),
        "gmsd": f(piq.gmsd),
        "ms_gmsd": f(piq.multi_scale_gmsd),
        "vif_p": f(piq.vif_p),
        "haarpsi": f(piq.haarpsi),
        "mdsi": f(piq.mdsi),
        "srsim": f(piq.srsim),
        "dss": f(piq.dss),
    }
    for ours, net in (("lpips", "alex"), ("lpips_vgg", "vgg"), ("lpips_squeeze", "squeeze")):
        model = lpips.LPIPS(net=net, verbose=False).eval()
        impls[ours] = lambda x, y, m=model: float(m(x, y, normalize=True))
    dists = piq.DISTS(reduction="none").eval()
    # piq.DISTS.forward first resizes images whose short side exceeds 256 px (a different, cheaper
    # computation); its parent's forward is the same DISTS at full size.
    impls["dists"] = lambda x, y: float(1 - super(piq.DISTS, dists).forward(x, y))
    impls["brisque"] = lambda x, y: float(piq.brisque(x, data_range=1.0))  # SVR file served by offline_pretrained
    return {k: _no_grad(v) for k, v in impls.items()}


PYIQA = {  # our name -> (pyiqa name, options)
    "psnr": ("psnr", {}),
    "psnr_y": ("psnry", {"color_space": "ycbcr"}),  # pyiqa's default "Y" is YIQ luma, not BT.601
    "ssim": ("ssimc", {}),
    "ssim_y": ("ssim", {"color_space": "ycbcr"}),
    "ms_ssim": ("ms_ssim", {"test_y_channel": False, "is_prod": True}),
    "fsim": ("fsim", {"chromatic": False}),
    "fsimc": ("fsim", {"chromatic": True}),
    "vsi": ("vsi", {}),
    "gmsd": ("gmsd", {}),
    "lpips": ("lpips", {}),
    "lpips_vgg": ("lpips-vgg", {}),
    "dists": ("dists", {}),
    "niqe": ("niqe", {}),
    "brisque": ("brisque", {}),
    # classic metrics: pyiqa feeds them BT.601 Y (or YIQ) where the authors' code (and iqa-bench)
    # uses MATLAB rgb2gray, so its mean values differ slightly; the work done is the same
    "cw_ssim": ("cw_ssim", {}),
    "nlpd": ("nlpd", {}),
    "piqe": ("piqe", {}),
    "entropy": ("entropy", {}),
}


def pyiqa_impls(weights: Path, names: list[str]) -> dict[str, Callable[[torch.Tensor, torch.Tensor], float]]:
    """pyiqa metric objects (created once, reused) for the names it has; empty without pyiqa."""
    try:
        import pyiqa
    except ImportError:
        return {}
    import lpips as lpips_pkg  # the lpips package ships the v0.1 linear heads pyiqa would download

    local = {
        "dists": {"pretrained_model_path": str(weights / "perceptual" / "dists_weights.pt")},
        "niqe": {"pretrained_model_path": str(weights / "nr" / "niqe_modelparameters_live_release.mat")},
        "brisque": {"pretrained_model_path": str(weights / "nr" / "brisque_svm_weights_from_live_allmodel.pt")},
    }
    for ours, net in (("lpips", "alex"), ("lpips_vgg", "vgg")):
        head = Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
        local[ours] = {"pretrained_model_path": str(head)}
    impls = {}
    for ours in names:
        if ours not in PYIQA:
            continue
        name, opts = PYIQA[ours]
        try:
            metric = pyiqa.create_metric(name, device="cpu", **opts, **local.get(ours, {}))
        except Exception as exc:  # noqa: BLE001 - report and leave the cell empty
            print(f"pyiqa {name}: cannot create offline ({type(exc).__name__}: {str(exc)[:120]})")
            continue
        if metric.metric_mode == "NR":
            impls[ours] = lambda x, y, m=metric: float(m(x))
        else:
            impls[ours] = lambda x, y, m=metric: float(m(x, y))
    return {k: _no_grad(v) for k, v in impls.items()}


def _no_grad(fn: Callable[..., float]) -> Callable[..., float]:
    def call(*args: Any) -> float:
        with torch.inference_mode():
            return fn(*args)
    return call


def make_ours(name: str, device: str) -> Any:
    """iqa-bench's metric ``name`` on ``device`` where it runs there (else on the CPU)."""
    on_device = device != "cpu" and device in METRICS.get(name).meta.devices  # the engine's rule
    return METRICS.create(name, device=device) if on_device else METRICS.create(name)


def ours_impls(names: list[str], device: str = "cpu") -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    impls = {}
    for name in names:
        fn = make_ours(name, device)
        if METRICS.get(name).meta.kind == "nr":
            impls[name] = lambda sr, hr, fn=fn: fn(sr)
        else:
            impls[name] = fn
    return impls


def time_interleaved(impls: dict[str, tuple[Callable[..., float], list[tuple]]], repeats: int
                     ) -> dict[str, tuple[float, float]]:
    """Per implementation, (median over repeats of the mean ms per image, mean value), the
    implementations timed in turn within each round (a pass each, the order rotated every round),
    so that a shared machine's drift between rounds falls on all of them alike. One warm-up call
    each first; rounds stop once a round takes more than 20 s (their noise is small anyway)."""
    names = list(impls)
    for fn, args in impls.values():
        fn(*args[0])
    runs: dict[str, list[float]] = {n: [] for n in names}
    values: dict[str, list[float]] = {}
    for r in range(repeats):
        t_round = time.perf_counter()
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, args = impls[name]
            t0 = time.perf_counter()
            values[name] = [fn(*a) for a in args]
            runs[name].append((time.perf_counter() - t0) / len(args) * 1e3)
        if time.perf_counter() - t_round > 20:
            break
    return {n: (statistics.median(runs[n]), float(np.mean(values[n]))) for n in names}


# --------------------------------------------------------------------------- data
def load_pairs(dataset: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(HR uint8 RGB mod-cropped, LR uint8 RGB, names) of the dataset at x4; grey replicated to RGB."""
    ds = resolve_dataset(dataset)
    hrs, lrs, names = [], [], []
    for sample in ds.samples(SCALE, "provided"):
        hr = modcrop(read_image(sample.hr_path)[0], SCALE)
        lr = read_image(sample.lr_path)[0]
        if hr.shape[2] == 1:
            hr, lr = np.repeat(hr, 3, axis=2), np.repeat(lr, 3, axis=2)
        hrs.append(hr)
        lrs.append(lr)
        names.append(sample.name)
    return hrs, lrs, names


def make_pair(name: str, sr_u8: np.ndarray, hr_u8: np.ndarray) -> Pair:
    c = SCALE
    sr, hr = to_float(sr_u8)[c:-c, c:-c], to_float(hr_u8)[c:-c, c:-c]
    return Pair(name, sr, hr, _t(sr), _t(hr))


def upscale_all(model: str, lrs: list[np.ndarray]) -> list[np.ndarray] | None:
    info = MODELS.get(model).meta
    runner = RUNNERS.get(info.backend)
    up = runner.factory(info, runner.meta.variants[0], device="cpu")
    try:
        up.weights_path(SCALE)
    except WeightsError as exc:
        print(f"suite: {model} skipped ({exc.message})")
        return None
    return [up.upscale_uint8(lr, SCALE) for lr in lrs]


# --------------------------------------------------------------------------- main
def main() -> None:
    args = _parse()
    with offline_pretrained(Path(args.weights)):
        run(args)


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[2] / "shared"
    ap.add_argument("--dataset", default=str(shared / "data" / "Set14"))
    ap.add_argument("--weights", default=str(shared / "weights"), help="folder with perceptual/ and nr/ files")
    ap.add_argument("--metrics", default="psnr,psnr_y,ssim,ssim_y,ms_ssim,iw_ssim,fsim,fsimc,vsi,gmsd,ms_gmsd,"
                    "vif_p,haarpsi,mdsi,srsim,dss,lpips,lpips_vgg,lpips_squeeze,dists,niqe,brisque,tv,"
                    "cw_ssim,nlpd,piqe,entropy")
    ap.add_argument("--suites", default="default", help="comma list of metrics/*.toml suites timed over 8 models")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where iqa-bench's torch metrics run (cuda: piq/pyiqa columns left empty)")
    ap.add_argument("--json", default="benchmarks/results/metrics_speed.json")
    return ap.parse_args()


def run(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    weights = Path(args.weights)
    os.environ.setdefault("IQA_BENCH_WEIGHTS", str(weights))
    names = args.metrics.split(",")

    hrs, lrs, image_names = load_pairs(args.dataset)
    bicubic = upscale_all("bicubic", lrs)
    pairs = [make_pair(n, sr, hr) for n, sr, hr in zip(image_names, bicubic, hrs)]
    ours = ours_impls(names, args.device)
    if args.device == "cpu":
        piq_, pyiqa_ = piq_impls(weights), pyiqa_impls(weights, names)
    else:  # their columns are CPU timings: left empty rather than set beside GPU ones
        piq_, pyiqa_ = {}, {}

    rows = []
    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(f"\nPer-metric time per image, Set14 x4 bicubic, {len(pairs)} images, torch threads "
          f"{torch.get_num_threads()}, iqa-bench on {args.device} ({where})")
    head = f"{'metric':<14}{'iqa-bench ms':>13}{'cached ms':>10}{'piq ms':>10}{'pyiqa ms':>10}{'/piq':>7}{'/pyiqa':>8}" \
           f"   {'mean: iqa-bench':>16}{'piq':>11}{'pyiqa':>11}"
    print(head)
    print("-" * len(head))
    for name in names:
        row: dict[str, Any] = {"metric": name}
        timed = {"iqa_bench": (ours[name], [(p.sr, p.hr) for p in pairs])}
        fn = make_ours(name, args.device)
        if isinstance(fn, ReferenceCached):  # as the engine scores: HR-side work once per HR image, untimed
            timed["iqa_bench_cached"] = (fn.compare, [(p.sr, fn.reference(p.hr)) for p in pairs])
        for col, impls in (("piq", piq_), ("pyiqa", pyiqa_)):
            if name in impls:
                timed[col] = (impls[name], [(p.sr_t, p.hr_t) for p in pairs])
        for col, (ms, mean) in time_interleaved(timed, args.repeats).items():
            row[f"{col}_ms"] = ms
            if col != "iqa_bench_cached":
                row[f"{col}_mean"] = mean
        rows.append(row)
        print(_format(row))

    suites = []
    outputs = {"bicubic": bicubic}
    for model in SUITE_MODELS[1:] if args.suites else []:
        out = upscale_all(model, lrs)
        if out is not None:
            outputs[model] = out
    for suite in filter(None, args.suites.split(",")):
        suites.append(time_suite(suite, outputs, hrs, image_names, ours, pyiqa_, args.repeats, args.device))

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({
        "dataset": args.dataset, "scale": SCALE, "images": len(pairs), "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "cpu_flags": list(cpu_flags()), "device": args.device, "device_name": where,
        "metrics": rows, "suites": suites,
    }, indent=2))
    print(f"\nwrote {args.json}")


def _format(row: dict[str, Any]) -> str:
    def ms(k: str) -> str:
        return f"{row[k]:.1f}" if k in row else "-"

    def ratio(k: str) -> str:
        return f"{row[k] / row['iqa_bench_ms']:.2f}x" if k in row else "-"

    def mean(k: str) -> str:
        return f"{row[k]:.5f}" if k in row else "-"

    return (f"{row['metric']:<14}{ms('iqa_bench_ms'):>13}{ms('iqa_bench_cached_ms'):>10}{ms('piq_ms'):>10}"
            f"{ms('pyiqa_ms'):>10}"
            f"{ratio('piq_ms'):>7}{ratio('pyiqa_ms'):>8}   {mean('iqa_bench_mean'):>16}{mean('piq_mean'):>11}"
            f"{mean('pyiqa_mean'):>11}")


def time_suite(suite: str, outputs: dict[str, list[np.ndarray]], hrs: list[np.ndarray], image_names: list[str],
               ours: dict[str, Callable], pyiqa_: dict[str, Callable], repeats: int, device: str = "cpu"
               ) -> dict[str, Any]:
    """Whole-suite scoring time for every model output x image, iqa-bench (engine order, reference
    cache per HR image) vs pyiqa (same metrics, when it has all of them)."""
    from iqa_bench.config import load_toml

    metrics = load_toml(f"metrics/{suite}.toml")["metrics"]
    kinds = {m: METRICS.get(m).meta.kind for m in metrics}
    fns = {m: make_ours(m, device) for m in metrics}
    work = [(i, [make_pair(image_names[i], out[i], hrs[i]) for out in outputs.values()]) for i in range(len(hrs))]

    metas = {m: METRICS.get(m).meta for m in metrics}

    def run_ours_one_by_one() -> None:
        for _, pairs in work:
            references: dict[str, object] = {}
            for p in pairs:
                for m in metrics:
                    _score(fns[m], kinds[m], p.sr, p.hr, references, m)

    def run_ours() -> None:  # as the engine does: every model's output of one HR image together
        for _, pairs in work:
            references = {}
            for m in metrics:  # scale 0: the pairs are cropped already
                _score_cells(fns[m], metas[m], m, [p.sr for p in pairs], pairs[0].hr, 0, references)

    def run_pyiqa() -> None:
        for _, pairs in work:
            for p in pairs:
                for m in metrics:
                    pyiqa_[m](p.sr_t, p.hr_t)

    n = sum(len(p) for _, p in work)
    result: dict[str, Any] = {"suite": suite, "metrics": metrics, "models": list(outputs), "pairs": n}
    for col, fn, ok in (("iqa_bench", run_ours, True), ("iqa_bench_one_by_one", run_ours_one_by_one, True),
                        ("pyiqa", run_pyiqa, all(m in pyiqa_ for m in metrics))):
        if not ok:
            continue
        runs = []
        for _ in range(max(1, repeats - 1)):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        result[f"{col}_s"] = statistics.median(runs)
        result[f"{col}_pairs_per_s"] = n / result[f"{col}_s"]
    if "pyiqa_s" in result:
        theirs = (f"pyiqa {result['pyiqa_s']:.1f} s (iqa-bench faster by "
                  f"{result['pyiqa_s'] / result['iqa_bench_s']:.2f}x)")
    else:
        result["pyiqa_missing"] = [m for m in metrics if m not in pyiqa_]
        theirs = f"pyiqa not timed: it lacks {', '.join(result['pyiqa_missing'])}"
    print(f"\nsuite {suite} ({', '.join(metrics)}) on {len(outputs)} models x {len(hrs)} images = {n} pairs: "
          f"iqa-bench {result['iqa_bench_s']:.1f} s = {result['iqa_bench_pairs_per_s']:.2f} pairs/s on {device} "
          f"(one output at a time: {result['iqa_bench_one_by_one_s']:.1f} s), "
          f"{theirs}")
    return result


if __name__ == "__main__":
    main()
