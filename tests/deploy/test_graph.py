"""The exact graph rewrite before OpenVINO: a narrow convolution after a pixel shuffle moved before it
computes the same outputs (ONNX Runtime on both graphs), in every DepthToSpace mode and with the
elementwise layers between; convolutions it would not speed up stay where they are."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from iqa_bench.deploy.graph import (  # noqa: E402
    SUBPIXEL, Rewritten, convs_before_depth_to_space, deconvs_as_subpixel_convs, rewritten_for_openvino)

FLOAT_NOISE = 1e-5  # the moved convolution sums the same products in another order (float32)


def shuffle_conv(r: int, mode: str, c: int, c_out: int, k: int, act: str | None, *, bias: bool = True,
                 seed: int = 0, pads: list[int] | None = None) -> onnx.ModelProto:
    """u (1, c*r*r, H, W) -> DepthToSpace(r, mode) -> [act] -> Conv(c -> c_out, k x k, same size) -> y."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((c_out, c, k, k)).astype(np.float32) / k, "w")]
    nodes = [helper.make_node("DepthToSpace", ["u"], ["t"], blocksize=r, mode=mode)]
    x = "t"
    if act == "PRelu1":
        inits.append(numpy_helper.from_array(np.array([0.2], np.float32), "slope"))
        nodes.append(helper.make_node("PRelu", ["t", "slope"], ["a"]))
    elif act == "PReluC":
        inits.append(numpy_helper.from_array(rng.uniform(0, 0.5, (c, 1, 1)).astype(np.float32), "slope"))
        nodes.append(helper.make_node("PRelu", ["t", "slope"], ["a"]))
    elif act == "LeakyRelu":
        nodes.append(helper.make_node("LeakyRelu", ["t"], ["a"], alpha=0.1))
    elif act == "Relu":
        nodes.append(helper.make_node("Relu", ["t"], ["a"]))
    if act:
        x = "a"
    conv_in = [x, "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b"))
        conv_in.append("b")
    p = pads if pads is not None else [k // 2] * 4
    nodes.append(helper.make_node("Conv", conv_in, ["y"], name="tail", kernel_shape=[k, k], pads=p))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("u", TensorProto.FLOAT,
                                                                        [1, c * r * r, None, None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, None, None])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def run(model: onnx.ModelProto, u: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"u": u})[0]


@pytest.mark.parametrize("r, mode, k, act", [
    (2, "CRD", 9, "PRelu1"), (2, "DCR", 9, "PReluC"), (2, "CRD", 9, "PReluC"), (3, "CRD", 9, "LeakyRelu"),
    (4, "DCR", 9, "Relu"), (2, "CRD", 7, None), (3, "DCR", 5, "PReluC"),
])
def test_moved_convolution_computes_the_same_output(r, mode, k, act):
    model = shuffle_conv(r, mode, c=8, c_out=3, k=k, act=act)
    u = np.random.default_rng(1).standard_normal((1, 8 * r * r, 11, 13)).astype(np.float32)
    before = run(model, u)
    moved = convs_before_depth_to_space(model)
    onnx.checker.check_model(model)
    assert moved == [Rewritten("tail", 8, 3)]
    ops = [n.op_type for n in model.graph.node]
    assert ops[-2:] == ["Conv", "DepthToSpace"] and ops.count("DepthToSpace") == 1
    assert {t.name for t in model.graph.initializer} >= {"tail_before_d2s_w", "tail_before_d2s_b"}
    assert "w" not in {t.name for t in model.graph.initializer}  # the old weights are gone
    after = run(model, u)
    assert after.shape == before.shape == (1, 3, 11 * r, 13 * r)
    assert np.abs(after - before).max() < FLOAT_NOISE * np.abs(before).max()


def test_asymmetric_padding_and_no_bias_are_moved_exactly():
    model = shuffle_conv(2, "CRD", c=4, c_out=1, k=8, act=None, bias=False, pads=[3, 4, 4, 3])
    u = np.random.default_rng(2).standard_normal((1, 16, 9, 10)).astype(np.float32)
    before = run(model, u)
    assert len(convs_before_depth_to_space(model)) == 1
    assert np.abs(run(model, u) - before).max() < FLOAT_NOISE * np.abs(before).max()


@pytest.mark.parametrize("why, kw", [
    ("a 3x3 after a x2 shuffle would do 4x the work (EDSR's tail)", dict(r=2, k=3)),
    ("16 output channels already fill oneDNN's block", dict(r=2, k=9, c_out=16)),
    ("a valid (shrinking) convolution", dict(r=2, k=9, pads=[0, 0, 0, 0])),
])
def test_convolutions_it_would_not_speed_up_stay(why, kw):
    model = shuffle_conv(kw.pop("r"), "CRD", c=8, c_out=kw.pop("c_out", 3), k=kw.pop("k"), act="Relu", **kw)
    before = model.SerializeToString()
    assert convs_before_depth_to_space(model) == [], why
    assert model.SerializeToString() == before


def test_a_shuffled_map_read_twice_stays():
    model = shuffle_conv(2, "CRD", c=4, c_out=3, k=9, act=None)
    model.graph.node.append(helper.make_node("Relu", ["t"], ["t2"]))
    model.graph.output.append(helper.make_tensor_value_info("t2", TensorProto.FLOAT, [1, 4, None, None]))
    assert convs_before_depth_to_space(model) == []


def test_rewritten_file_is_written_only_when_something_moved(tmp_path):
    moving, staying = tmp_path / "moving.onnx", tmp_path / "staying.onnx"
    onnx.save(shuffle_conv(2, "CRD", c=4, c_out=3, k=9, act="PRelu1"), str(moving))
    onnx.save(shuffle_conv(2, "CRD", c=4, c_out=3, k=3, act="PRelu1"), str(staying))
    path, moved = rewritten_for_openvino(moving, tmp_path / "out.onnx")
    assert path == tmp_path / "out.onnx" and path.is_file() and moved == [Rewritten("tail", 4, 3)]
    assert rewritten_for_openvino(staying, tmp_path / "out2.onnx") == (staying, [])
    assert not (tmp_path / "out2.onnx").exists()


def deconv(s: int, k: int, pad: int, extra: int, c_out: int = 1, *, bias: bool = True, group: int = 1,
           seed: int = 0) -> onnx.ModelProto:
    """x (1, 6, H, W) -> ConvTranspose(6 -> c_out, k x k, stride s, pads, output_padding) -> y."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((6, c_out // group, k, k)).astype(np.float32) / k, "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="deconv", kernel_shape=[k, k], strides=[s, s],
                            pads=[pad] * 4, output_padding=[extra, extra], group=group)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, None, None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, None, None])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("s, k, pad, extra, bias", [
    (2, 9, 4, 1, True), (3, 9, 4, 2, True), (4, 9, 4, 3, False), (2, 4, 1, 0, True), (3, 3, 0, 0, True),
])
def test_transposed_convolution_as_subpixel_computes_the_same_output(s, k, pad, extra, bias):
    """FSRCNN's x2/x3/x4 deconvolutions (9x9, pad 4, output padding s-1) and two other exact-size ones."""
    model = deconv(s, k, pad, extra, c_out=2, bias=bias)
    x = np.random.default_rng(3).standard_normal((1, 6, 10, 12)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    before = sess.run(None, {"x": x})[0]
    done = deconvs_as_subpixel_convs(model)
    onnx.checker.check_model(model)
    assert done == [Rewritten("deconv", 6, 2, SUBPIXEL)]
    assert [n.op_type for n in model.graph.node] == ["Conv", "DepthToSpace"]
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert after.shape == before.shape == (1, 2, 10 * s, 12 * s)
    assert np.abs(after - before).max() < FLOAT_NOISE * np.abs(before).max()


@pytest.mark.parametrize("why, kw", [
    ("its output is not exactly s times its input", dict(s=2, k=9, pad=4, extra=0)),
    ("16 output channels", dict(s=2, k=9, pad=4, extra=1, c_out=16)),
    ("grouped", dict(s=2, k=9, pad=4, extra=1, c_out=2, group=2)),
])
def test_transposed_convolutions_it_cannot_or_need_not_rewrite_stay(why, kw):
    model = deconv(**kw)
    assert deconvs_as_subpixel_convs(model) == [], why
    assert [n.op_type for n in model.graph.node] == ["ConvTranspose"]


def test_a_convolution_whose_bias_is_computed_stays():
    """Only initializer weights and biases can be moved; a bias made by another node is left alone."""
    model = shuffle_conv(2, "CRD", c=4, c_out=3, k=9, act=None)
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    model.graph.node.insert(0, helper.make_node("Identity", ["b"], ["b2"]))
    conv.input[2] = "b2"
    assert convs_before_depth_to_space(model) == []


@pytest.mark.parametrize("s, k, pad, extra, bias", [
    (2, 9, 4, 1, True), (3, 9, 4, 2, True), (4, 9, 4, 3, False), (2, 4, 1, 0, True), (3, 3, 0, 0, True),
])
def test_transposed_conv_module_as_subpixel_computes_the_same_output(s, k, pad, extra, bias):
    """The same rewrite on a PyTorch network (QAT fine-tunes and converts it without ONNX): x3's
    uneven padding goes in a ZeroPad2d; the swapped module is the same function."""
    import copy

    import torch

    from iqa_bench.deploy.graph import subpixel_modules

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1),
                              torch.nn.ConvTranspose2d(6, 2, k, stride=s, padding=pad, output_padding=extra, bias=bias))
    swapped = copy.deepcopy(net)
    done = subpixel_modules(swapped)
    new = swapped[1]
    assert [type(m).__name__ for m in new][-2:] == ["Conv2d", "PixelShuffle"]
    assert done == [Rewritten(f"1.{len(new) - 2}", 6, 2, SUBPIXEL)]
    assert swapped.get_submodule(done[0].name).out_channels == 2 * s * s
    x = torch.randn(1, 1, 10, 12)
    with torch.no_grad():
        before, after = net(x), swapped(x)
    assert after.shape == before.shape == (1, 2, 10 * s, 12 * s)
    assert (after - before).abs().max() < FLOAT_NOISE * before.abs().max()


@pytest.mark.parametrize("why, kw", [
    ("its output is not exactly s times its input", dict(stride=2, padding=4, output_padding=0)),
    ("16 output channels", dict(out_channels=16, stride=2, padding=4, output_padding=1)),
    ("grouped", dict(out_channels=2, groups=2, stride=2, padding=4, output_padding=1)),
    ("stride 1", dict(stride=1, padding=4)),
])
def test_transposed_conv_modules_it_cannot_or_need_not_rewrite_stay(why, kw):
    import torch

    from iqa_bench.deploy.graph import subpixel_modules

    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(6, **{"out_channels": 1, "kernel_size": 9, **kw}))
    assert subpixel_modules(net) == [], why
    assert isinstance(net[0], torch.nn.ConvTranspose2d)
