"""Model zoo: reproduction of the published PSNR of each model's source repository, checkpoint layouts, tiling, precision,
and clear errors for bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iqa_bench.data.colour import luma
from iqa_bench.data.datasets import resolve_dataset
from iqa_bench.data.degrade import modcrop
from iqa_bench.errors import InputError
from iqa_bench.io import read_image, to_float
from iqa_bench.metrics import METRICS
from iqa_bench.models import MODELS, ModelInfo
from iqa_bench.models.archs import ARCHS
from iqa_bench.models.loading import load_into
from iqa_bench.models.rrdbnet import to_esrgan_keys
from iqa_bench.runners.torch_runner import TorchUpscaler, build_network
from iqa_bench.weights import WeightsError, WeightsStore

# MODELS.md "Measured Y-PSNR / SSIM" (Set5, SelfExSR LR files, crop = scale). Tolerance 0.05 dB / 0.002.
MEASURED = {
    ("fsrcnn", 2): (37.14, 0.9568), ("fsrcnn", 3): (32.60, 0.9058), ("fsrcnn", 4): (30.51, 0.8598),
    ("vdsr", 2): (37.62, 0.9594), ("vdsr", 4): (31.44, 0.8856),
    ("edsr_r8f64", 2): (37.80, 0.9598),
    ("srgan", 2): (35.48, 0.9426), ("srgan", 4): (30.66, 0.8642),
    ("realesrgan_x4plus", 4): (26.63, 0.8068),
}
VDSR_PAPER_SET5 = {2: 37.53, 4: 31.35}  # within 0.1 dB


@pytest.fixture(scope="module")
def store(shared):
    return WeightsStore(paths=[shared / "weights"], cache_dir=shared / "no-cache", allow_download=False)


def _set5(shared, scale):
    ds = resolve_dataset(str(shared / "data" / "Set5"))
    for s in ds.samples(scale, "provided"):
        yield s.name, read_image(s.lr_path)[0], modcrop(read_image(s.hr_path)[0], scale)


def _scores(up, shared, scale):
    psnr_y, ssim_y = METRICS.create("psnr_y"), METRICS.create("ssim_y")
    p, q = [], []
    for _, lr, hr in _set5(shared, scale):
        sr = to_float(up.upscale_uint8(lr, scale))[scale:-scale, scale:-scale]
        h = to_float(hr)[scale:-scale, scale:-scale]
        p.append(psnr_y(sr, h))
        q.append(ssim_y(sr, h))
    return float(np.mean(p)), float(np.mean(q))


@pytest.mark.parametrize("model, scale", sorted(MEASURED))
def test_set5_reproduces_models_md(shared, store, model, scale):
    up = TorchUpscaler(MODELS.get(model).meta, store=store)
    psnr, ssim = _scores(up, shared, scale)
    want_p, want_s = MEASURED[(model, scale)]
    print(f"{model} x{scale}: PSNR-Y {psnr:.4f} (MODELS.md {want_p}), SSIM-Y {ssim:.4f} ({want_s})")
    assert psnr == pytest.approx(want_p, abs=0.05) and ssim == pytest.approx(want_s, abs=0.002)
    if model == "vdsr":
        assert psnr == pytest.approx(VDSR_PAPER_SET5[scale], abs=0.1)


def test_srcnn_y_protocol_reproduces_models_md(shared, store):
    """SRCNN's Y output scored directly (MODELS.md's protocol for Y models): 34.48 dB.

    Through the RGB image as saved it scores 34.55: recombining Y with chroma and clipping to RGB
    keeps luma inside BT.601's [16, 235], which removes some of SRCNN's overshoot.
    """
    up = TorchUpscaler(MODELS.get("srcnn").meta, store=store)
    vals = []
    for _, lr, hr in _set5(shared, 2):
        y = np.clip(up.upscale_luma(lr, 2), 0, 1)[2:-2, 2:-2, None]
        vals.append(METRICS.create("psnr")(y, luma(to_float(hr))[2:-2, 2:-2]))
    assert np.mean(vals) == pytest.approx(34.48, abs=0.05)


def _random_model(arch, scale, **params):
    torch.manual_seed(0)
    kwargs = dict(params, **({"scale": scale} if ARCHS.get(arch).meta.takes_scale else {}))
    net = ARCHS.create(arch, **kwargs).eval()
    for p in net.parameters():  # non-trivial values everywhere (some inits are zero)
        p.data.normal_(0, 0.05)
    return net


SMALL = {
    "edsr": {"n_resblocks": 2, "n_feats": 16},
    "rdn": {"d": 2, "c": 2, "g": 8, "g0": 8},
    "msrresnet": {"num_feat": 16, "num_block": 2},
    "rrdbnet": {"num_feat": 16, "num_block": 2, "num_grow_ch": 8},
    "unet": {"feats": 8, "levels": 3},
    "srunet": {"feats": 8, "levels": 3},
    "srgan_leftthomas": {},
}
LAYOUTS = {
    "plain": lambda sd: sd,
    "basicsr_params": lambda sd: {"params": sd},
    "basicsr_params_ema": lambda sd: {"params_ema": sd, "params": {k: v * 0 for k, v in sd.items()}},
    "dataparallel": lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}},
}


@pytest.mark.parametrize("arch", sorted(SMALL))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_round_trip_in_each_layout(tmp_path, arch, layout):
    scale = 4 if arch != "unet" else 1
    net = _random_model(arch, scale, **SMALL[arch])
    path = tmp_path / "ckpt.pth"
    torch.save(LAYOUTS[layout](net.state_dict()), path)
    fresh = ARCHS.create(arch, **SMALL[arch], **({"scale": scale} if ARCHS.get(arch).meta.takes_scale else {}))
    load_into(fresh.eval(), path, what=arch, convert=ARCHS.get(arch).meta.convert)
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(net(x), fresh(x))


def test_original_esrgan_keys_load(tmp_path):
    net = _random_model("rrdbnet", 4, **SMALL["rrdbnet"])
    old = to_esrgan_keys(net.state_dict())
    assert "RRDB_trunk.0.RDB1.conv1.0.weight" in old and "HRconv.weight" in old
    torch.save(old, tmp_path / "old.pth")
    fresh = ARCHS.create("rrdbnet", scale=4, **SMALL["rrdbnet"]).eval()
    load_into(fresh, tmp_path / "old.pth", what="rrdbnet", convert=ARCHS.get("rrdbnet").meta.convert)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), fresh(x))


def test_tiled_equals_whole_image(tmp_path):
    net = _random_model("edsr", 2, n_resblocks=2, n_feats=16)
    torch.save(net.state_dict(), tmp_path / "e.pth")
    info = ModelInfo(arch="edsr", backend="torch", description="", params={"n_resblocks": 2, "n_feats": 16},
                     value_range=255)
    lr = (np.random.default_rng(0).random((70, 90, 3)) * 255).astype(np.uint8)
    whole = TorchUpscaler(info, weights={2: str(tmp_path / "e.pth")}, tile=None).upscale(lr, 2)
    tiled = TorchUpscaler(info, weights={2: str(tmp_path / "e.pth")}, tile=32, overlap=12).upscale(lr, 2)
    assert whole.shape == (140, 180, 3)
    assert np.abs(whole - tiled).max() < 1e-5


def test_bf16_close_to_fp32_on_cpu(shared, store):
    info = MODELS.get("fsrcnn").meta
    _, lr, _ = next(_set5(shared, 4))
    a = TorchUpscaler(info, "fp32", store=store).upscale(lr, 4)
    b = TorchUpscaler(info, "bf16", store=store).upscale(lr, 4)
    diff = np.abs(a - b).max()
    print(f"fsrcnn x4 bf16 vs fp32 on CPU: max |diff| {diff:.2e}")
    assert 0 < diff < 0.05


def test_bad_checkpoints_give_clear_errors(shared, store, tmp_path):
    info = MODELS.get("srgan").meta
    x2 = shared / "weights" / "sr" / "srgan_g_x2.pth"
    with pytest.raises(InputError, match=r"does not fit srgan_leftthomas x4.*missing \(e\.g\. block8\.1"):
        TorchUpscaler(info, weights={4: str(x2)}).network(4)  # wrong scale
    with pytest.raises(InputError, match="does not fit edsr"):
        build_network(ModelInfo(arch="edsr", backend="torch", description=""), 2, str(x2))  # wrong arch
    broken = tmp_path / "broken.pth"
    broken.write_bytes(x2.read_bytes()[:1000])
    with pytest.raises(InputError, match=f"checkpoint {broken} cannot be read"):
        TorchUpscaler(info, weights={2: str(broken)}).network(2)
    with pytest.raises(WeightsError, match="no weights file is configured for rdn at x2"):
        TorchUpscaler(MODELS.get("rdn").meta, store=store).weights_path(2)


# The project's own models (`iqa-bench train`, weights inside the package): Set5 PSNR-Y measured by
# `evaluate` (README, "Training"); tolerance 0.05 dB (another CPU or thread count moves float32 by
# far less). Each must beat bicubic (33.68 / 30.41 / 28.43 dB at x2 / x3 / x4) by a clear margin.
PROJECT_SET5 = {
    ("fsrcnn_s", 2): 35.012, ("fsrcnn_s", 3): 31.275, ("fsrcnn_s", 4): 29.262,
    ("unet", 2): 35.669, ("unet", 4): 29.722, ("srunet", 2): 35.806, ("srunet", 4): 29.636,
}
BICUBIC_SET5 = {2: 33.679, 3: 30.406, 4: 28.432}


def test_project_weights_ship_in_the_package(tmp_path):
    """Found with no weights folder, no cache and no network, verified by sha256, a few MB in all."""
    from iqa_bench.weights import PACKAGED

    store = WeightsStore(paths=[], cache_dir=tmp_path / "empty-cache", allow_download=False)
    total = 0
    for model, scale in PROJECT_SET5:
        path = store.resolve(MODELS.get(model).meta.weight_for(scale))
        assert PACKAGED in path.parents
        total += path.stat().st_size
        build_network(MODELS.get(model).meta, scale, str(path))
    assert total < 8 * 2**20


@pytest.mark.parametrize("model, scale", sorted(PROJECT_SET5))
def test_project_models_reproduce_their_readme_numbers_and_beat_bicubic(shared, tmp_path, model, scale):
    store = WeightsStore(paths=[], cache_dir=tmp_path / "empty-cache", allow_download=False)
    psnr, _ = _scores(TorchUpscaler(MODELS.get(model).meta, store=store), shared, scale)
    print(f"{model} x{scale}: Set5 PSNR-Y {psnr:.4f} (README {PROJECT_SET5[(model, scale)]})")
    assert psnr == pytest.approx(PROJECT_SET5[(model, scale)], abs=0.05)
    assert psnr > BICUBIC_SET5[scale] + 0.5


# LPIPS (AlexNet) on Set5 of the GAN-trained ones (README): far below bicubic's 0.129 (x2) / 0.344 (x4).
PROJECT_GAN_LPIPS = {("unet", 2): 0.032, ("srunet", 2): 0.029, ("unet", 4): 0.122, ("srunet", 4): 0.122}


@pytest.mark.parametrize("model, scale", sorted(PROJECT_GAN_LPIPS))
def test_project_gan_models_halve_bicubic_lpips(shared, tmp_path, monkeypatch, model, scale):
    monkeypatch.setenv("IQA_BENCH_WEIGHTS", str(shared / "weights"))  # LPIPS's AlexNet
    lpips = METRICS.create("lpips")
    up = TorchUpscaler(MODELS.get(model).meta, store=WeightsStore(paths=[], cache_dir=tmp_path, allow_download=False))
    values = [lpips(to_float(up.upscale_uint8(lr, scale))[scale:-scale, scale:-scale], to_float(hr)[scale:-scale, scale:-scale])
              for _, lr, hr in _set5(shared, scale)]
    assert float(np.mean(values)) == pytest.approx(PROJECT_GAN_LPIPS[(model, scale)], abs=0.002)
    assert float(np.mean(values)) < 0.5 * {2: 0.129, 4: 0.344}[scale]
