"""--model NAME=CKPT without --arch: spandrel detects the architecture, scale and channels; the network
runs through the normal engine and gives what the module itself gives; unknown checkpoints are one
clear error. Random weights: no download needed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from iqa_bench.cli import app
from iqa_bench.data.degrade import DEGRADATIONS
from iqa_bench.io import quantize_uint8, read_image
from tests.conftest import photo_like, save_png

runner = CliRunner()


def _networks():
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.SPAN import SPAN

    torch.manual_seed(0)
    return {"ESRGAN": ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=2),
            "SPAN": SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2),
            "Compact": Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2)}


@pytest.mark.parametrize("arch", ["ESRGAN", "SPAN", "Compact"])
def test_detected_checkpoint_round_trip(tmp_path, arch):
    net = _networks()[arch].eval()
    ckpt = tmp_path / f"{arch}.pth"
    torch.save(net.state_dict(), ckpt)
    hr = photo_like(48, 40, seed=5)
    save_png(tmp_path / "data" / "img.png", hr)
    res = runner.invoke(app, ["evaluate", "--dataset", str(tmp_path / "data"), "--model", f"mine={ckpt}",
                              "--scale", "2", "--metrics", "psnr", "--out", str(tmp_path / "r")], terminal_width=300)
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["models"]["mine"]["detected"]["architecture"] == arch
    assert manifest["models"]["mine"]["detected"]["scale"] == 2 and manifest["models"]["mine"]["arch"] == "spandrel"
    saved = read_image(next((tmp_path / "r" / "outputs").rglob("img.png")))[0]
    lr = DEGRADATIONS["matlab"](hr, 2)
    with torch.inference_mode():
        direct = net(torch.from_numpy(lr / 255.0).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).double().numpy()
    assert np.abs(saved.astype(int) - quantize_uint8(direct).astype(int)).max() <= 1  # float rounding only


def test_unknown_checkpoint_and_wrong_scale_are_clear_errors(tmp_path):
    torch.save({"some.weight": torch.zeros(3, 3)}, tmp_path / "odd.pth")
    res = runner.invoke(app, ["evaluate", "--model", f"mine={tmp_path / 'odd.pth'}", "--scale", "2",
                              "--out", str(tmp_path / "r")], terminal_width=300)
    assert res.exit_code == 2 and "was not recognised" in res.output and "ESRGAN" in res.output
    assert "--arch" in res.output and "Traceback" not in res.output
    net = _networks()["Compact"]
    torch.save(net.state_dict(), tmp_path / "c.pth")
    res = runner.invoke(app, ["evaluate", "--model", f"mine={tmp_path / 'c.pth'}", "--scale", "4",
                              "--out", str(tmp_path / "r")], terminal_width=300)
    assert res.exit_code == 2 and "is a x2 Compact network" in res.output and "--scale 2" in res.output
