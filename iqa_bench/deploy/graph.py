"""Exact rewrites of an exported ONNX graph that make it faster to run, applied before OpenVINO compiles it.

:func:`convs_before_depth_to_space` moves a narrow convolution that reads a pixel-shuffled
(``DepthToSpace``) feature map before the shuffle: SRGAN's last layer, a 9x9 convolution from 64
channels to the 3 image channels on the high-resolution grid, becomes a 5x5 convolution from 256 to
12 channels on the low-resolution grid, followed by the shuffle. The two compute the same sums
(every weight is moved, none changed); only the order of float additions differs. Why: oneDNN's
convolution kernels block output channels by 16, and a convolution writing 3 channels runs far
below the CPU's speed. Measured with OpenVINO 2026.4 on a 2-core AVX-512 Xeon, f32, 2 threads: the
9x9 64->3 convolution on 256x256 in 49.3 ms (41 GFLOP/s), the equivalent 5x5 256->12 one on 128x128
in 13.5 ms (187 GFLOP/s), although it multiplies 23 % more (the kernel's zero taps).

:func:`deconvs_as_subpixel_convs` turns a narrow strided transposed convolution (FSRCNN's last
layer, 9x9 from 56 channels to 1 at stride 2 or 4) into a convolution on the low-resolution grid
writing ``stride**2`` times the channels, followed by ``DepthToSpace``: the sub-pixel convolution it
is equal to. OpenVINO's CPU plugin runs the transposed convolution at 13 GFLOP/s in f32 (72 % of
FSRCNN x2's time at 128x128) and in f32 even in an int8 model.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx
    import torch

# Moved only when the moved convolution writes fewer channels than oneDNN's block of 16 and does at
# most this many times the multiply-adds of the original (the zero taps of its enlarged kernel).
# Measured as above, 64 -> 3 channels on a 96x96 low-resolution grid, original vs moved: 9x9 after a
# x2 shuffle (work 1.23x) 3.7x faster, x3 (2.78x) 1.53x, x4 (1.78x) 2.12x; 5x5 after x2 (1.44x) 2.04x,
# after x3 (3.24x) 1.55x; 3x3 after x2 (4x, EDSR's tail) only 1.18x: not moved.
MAX_WORK_RATIO = 3.5
NARROW = 16
# Elementwise layers that commute with the shuffle (their per-channel parameters are permuted along).
_ELEMENTWISE = ("Relu", "LeakyRelu", "PRelu")


MOVED, SUBPIXEL = "moved before its DepthToSpace", "as a sub-pixel convolution"


@dataclass(frozen=True)
class Rewritten:
    """One rewritten convolution: the ONNX node name its new convolution keeps, its channels in and
    out before the rewrite (what :func:`~iqa_bench.deploy.quantize.is_image_facing` reads), and how
    (:data:`MOVED` or :data:`SUBPIXEL`)."""

    name: str
    channels_in: int
    channels_out: int
    how: str = MOVED


def convs_before_depth_to_space(model: onnx.ModelProto) -> list[Rewritten]:
    """Rewrite ``model`` in place: each ``DepthToSpace(r) -> [Relu | LeakyRelu | PRelu] -> Conv``
    whose convolution is narrow (fewer than 16 output channels), stride 1, undilated, ungrouped and
    size-preserving, and whose moved form costs at most :data:`MAX_WORK_RATIO` times the
    multiply-adds, becomes ``[activation] -> Conv' -> DepthToSpace(r, CRD)`` on the low-resolution
    grid. Returns what was moved (nothing: the model is unchanged)."""
    moved: list[Rewritten] = []
    while (found := _next_move(model.graph)) is not None:
        moved.append(_move(model.graph, *found))
    return moved


def _next_move(graph: onnx.GraphProto) -> tuple | None:
    """The first ``(d2s, act or None, conv, r, mode)`` that :func:`convs_before_depth_to_space` moves."""
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    outputs = {o.name for o in graph.output}

    def single_use(tensor: str) -> bool:
        return users.get(tensor, 0) == 1 and tensor not in outputs

    for conv in graph.node:
        if conv.op_type != "Conv" or not _weights_known(conv, inits):
            continue
        act = producer.get(conv.input[0])
        if act is None:
            continue
        if act.op_type in _ELEMENTWISE:
            d2s = producer.get(act.input[0])
            if not single_use(act.output[0]) or (act.op_type == "PRelu" and act.input[1] not in inits):
                continue
        else:
            act, d2s = None, act
        if d2s is None or d2s.op_type != "DepthToSpace" or not single_use(d2s.output[0]):
            continue
        attrs, d2s_attrs = _attrs(conv), _attrs(d2s)
        r, mode = int(d2s_attrs["blocksize"]), d2s_attrs.get("mode", b"DCR")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        shape = list(inits[conv.input[1]].dims)
        if len(shape) != 4 or not _plain(attrs) or any(s != 1 for s in attrs.get("strides", [1, 1])):
            continue
        c_out, _, kh, kw = shape
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if pads[0] + pads[2] != kh - 1 or pads[1] + pads[3] != kw - 1 or c_out >= NARROW:
            continue
        (_, ky), (_, kx) = _span(kh, pads[0], r), _span(kw, pads[1], r)
        if ky * kx * r * r > MAX_WORK_RATIO * kh * kw:
            continue
        return d2s, act, conv, r, mode
    return None


def _move(graph: onnx.GraphProto, d2s, act, conv, r: int, mode: str) -> Rewritten:
    """Replace ``d2s -> [act] -> conv`` by ``[act'] -> conv' -> DepthToSpace(r, CRD)`` (see
    :func:`convs_before_depth_to_space`)."""
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in graph.initializer}
    attrs = _attrs(conv)
    w = numpy_helper.to_array(inits[conv.input[1]])
    c_out, c_in, kh, kw = w.shape
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    (lo_y, ky), (lo_x, kx) = _span(kh, pads[0], r), _span(kw, pads[1], r)
    prefix = f"{conv.name or conv.output[0]}_before_d2s"
    nodes, x = [], d2s.input[0]
    if act is not None:
        act_inputs = [x]
        if act.op_type == "PRelu":
            slope = _moved_slope(numpy_helper.to_array(inits[act.input[1]]), c_in, r, mode)
            act_inputs.append(_add(graph, f"{prefix}_slope", slope))
        x = f"{prefix}_act"
        nodes.append(helper.make_node(act.op_type, act_inputs, [x], name=x,
                                      **_attrs(act)))
    conv_inputs = [x, _add(graph, f"{prefix}_w", _moved_weights(w, r, mode, pads[0], pads[1], lo_y, ky, lo_x, kx))]
    if len(conv.input) > 2 and conv.input[2]:
        conv_inputs.append(_add(graph, f"{prefix}_b", np.repeat(numpy_helper.to_array(inits[conv.input[2]]), r * r)))
    nodes.append(helper.make_node("Conv", conv_inputs, [f"{prefix}_y"], name=conv.name or prefix, kernel_shape=[ky, kx],
                                  pads=[-lo_y, -lo_x, ky - 1 + lo_y, kx - 1 + lo_x]))
    nodes.append(helper.make_node("DepthToSpace", [f"{prefix}_y"], list(conv.output), name=f"{prefix}_d2s",
                                  blocksize=r, mode="CRD"))
    _splice(graph, [n for n in (d2s, act) if n is not None], conv, nodes)
    return Rewritten(conv.name or prefix, c_in, c_out, MOVED)


def deconvs_as_subpixel_convs(model: onnx.ModelProto) -> list[Rewritten]:
    """Rewrite ``model`` in place: each ``ConvTranspose`` with stride ``s`` > 1 (equal on both axes)
    writing fewer than 16 channels, ungrouped, undilated, whose output is exactly ``s`` times its
    input (``k - pad_begin - pad_end + output_padding == s``), and whose sub-pixel form costs at most
    :data:`MAX_WORK_RATIO` times the multiply-adds, becomes ``Conv -> DepthToSpace(s, CRD)``.
    Returns what was rewritten (nothing: the model is unchanged)."""
    done: list[Rewritten] = []
    while (found := _next_deconv(model.graph)) is not None:
        done.append(_subpixel(model.graph, found))
    return done


def _next_deconv(graph: onnx.GraphProto):
    """The first ``ConvTranspose`` that :func:`deconvs_as_subpixel_convs` rewrites."""
    dims = {t.name: list(t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type != "ConvTranspose" or len(dims.get(node.input[1], [])) != 4 or not _weights_known(node, dims):
            continue
        attrs = _attrs(node)
        c_in, c_out, kh, kw = dims[node.input[1]]
        strides = list(attrs.get("strides", [1, 1]))
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        extra = list(attrs.get("output_padding", [0, 0]))
        if (not _plain(attrs) or "output_shape" in attrs
                or strides[0] != strides[1] or strides[0] < 2 or c_out >= NARROW):
            continue
        if _subpixel_fits(strides[0], kh, kw, pads, extra):
            return node
    return None


def _subpixel_fits(s: int, kh: int, kw: int, pads: list[int], extra: list[int]) -> bool:
    """A stride-``s`` transposed convolution (pads ``[top, left, bottom, right]``, output padding
    ``extra``) whose output is exactly ``s`` times its input and whose sub-pixel form costs at most
    :data:`MAX_WORK_RATIO` times its multiply-adds."""
    if kh - pads[0] - pads[2] + extra[0] != s or kw - pads[1] - pads[3] + extra[1] != s:
        return False
    (_, ky), (_, kx) = _deconv_span(kh, pads[0], s), _deconv_span(kw, pads[1], s)
    return ky * kx * s * s <= MAX_WORK_RATIO * kh * kw


def _subpixel(graph: onnx.GraphProto, deconv) -> Rewritten:
    """Replace ``deconv`` by ``Conv -> DepthToSpace(s, CRD)`` (see :func:`deconvs_as_subpixel_convs`)."""
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in graph.initializer}
    attrs = _attrs(deconv)
    w = numpy_helper.to_array(inits[deconv.input[1]])  # (in, out, kh, kw)
    c_in, c_out = w.shape[:2]
    s, pads = int(attrs["strides"][0]), list(attrs.get("pads", [0, 0, 0, 0]))
    w2, (lo_y, ky), (lo_x, kx) = _subpixel_weights(w, s, pads[0], pads[1])
    prefix = f"{deconv.name or deconv.output[0]}_subpixel"
    inputs = [deconv.input[0], _add(graph, f"{prefix}_w", w2)]
    if len(deconv.input) > 2 and deconv.input[2]:
        inputs.append(_add(graph, f"{prefix}_b", np.repeat(numpy_helper.to_array(inits[deconv.input[2]]), s * s)))
    nodes = [helper.make_node("Conv", inputs, [f"{prefix}_y"], name=deconv.name or prefix, kernel_shape=[ky, kx],
                              pads=[-lo_y, -lo_x, ky - 1 + lo_y, kx - 1 + lo_x]),
             helper.make_node("DepthToSpace", [f"{prefix}_y"], list(deconv.output), name=f"{prefix}_d2s",
                              blocksize=s, mode="CRD")]
    _splice(graph, [], deconv, nodes)
    return Rewritten(deconv.name or prefix, c_in, c_out, SUBPIXEL)


def _subpixel_weights(w: np.ndarray, s: int, pad_y: int,
                      pad_x: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The sub-pixel convolution equal to a stride-``s`` transposed convolution with weights ``w``
    (in, out, kh, kw) and leading pads ``pad_y``, ``pad_x``: its weights (out * s * s, in, ky, kx),
    output channel ``o*s*s + a*s + b`` writing sub-pixel ``(a, b)`` of output ``o`` (CRD order), and
    per axis the first low-resolution offset it reads and its kernel size."""
    c_in, c_out, kh, kw = w.shape
    (lo_y, ky), (lo_x, kx) = _deconv_span(kh, pad_y, s), _deconv_span(kw, pad_x, s)
    # output sub-pixel (a, b) at low-resolution offset (dy, dx) reads tap (a + pad - s*dy, b + pad - s*dx)
    w2 = np.zeros((c_out * s * s, c_in, ky, kx), dtype=w.dtype)
    for a in range(s):
        for b in range(s):
            for j in range(ky):
                t = a + pad_y - s * (j + lo_y)
                for i in range(kx):
                    u = b + pad_x - s * (i + lo_x)
                    if 0 <= t < kh and 0 <= u < kw:
                        w2[np.arange(c_out) * s * s + a * s + b, :, j, i] = w[:, :, t, u].T
    return w2, (lo_y, ky), (lo_x, kx)


def subpixel_modules(net: torch.nn.Module, paths: Collection[str] | None = None) -> list[Rewritten]:
    """:func:`deconvs_as_subpixel_convs` on a PyTorch network, in place: each ``ConvTranspose2d``
    (of those at module ``paths``, when given) it would rewrite (same conditions; zero padding mode)
    becomes ``[ZeroPad2d] -> Conv2d -> PixelShuffle``, the weights moved exactly. For networks that
    are not exported through ONNX before OpenVINO reads them (quantization-aware training converts the
    fine-tuned PyTorch network). Returns what was rewritten, named by the new ``Conv2d``'s module path."""
    import torch
    from torch import nn

    done: list[Rewritten] = []
    for path, m in list(net.named_modules()):
        if (not path or (paths is not None and path not in paths) or not isinstance(m, nn.ConvTranspose2d)
                or m.groups != 1 or m.padding_mode != "zeros"):
            continue
        s, (ph, pw), extra = m.stride[0], m.padding, list(m.output_padding)
        (kh, kw) = m.kernel_size
        if (m.stride[0] != m.stride[1] or s < 2 or m.out_channels >= NARROW or tuple(m.dilation) != (1, 1)
                or not _subpixel_fits(s, kh, kw, [ph, pw, ph, pw], extra)):
            continue
        w2, (lo_y, ky), (lo_x, kx) = _subpixel_weights(m.weight.detach().cpu().numpy(), s, ph, pw)
        pads = (-lo_x, kx - 1 + lo_x, -lo_y, ky - 1 + lo_y)  # left, right, top, bottom
        even = pads[0] == pads[1] and pads[2] == pads[3]
        conv = nn.Conv2d(m.in_channels, w2.shape[0], (ky, kx), padding=(pads[2], pads[0]) if even else 0,
                         bias=m.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w2))
            if m.bias is not None:
                conv.bias.copy_(m.bias.detach().repeat_interleave(s * s))
        layers: list[nn.Module] = [conv] if even else [nn.ZeroPad2d(pads), conv]
        parent, _, name = path.rpartition(".")
        net.get_submodule(parent).register_module(name, nn.Sequential(*layers, nn.PixelShuffle(s)))
        done.append(Rewritten(f"{path}.{len(layers) - 1}", m.in_channels, m.out_channels, SUBPIXEL))
    return done


def _deconv_span(k: int, pad: int, s: int) -> tuple[int, int]:
    """First low-resolution offset read by the sub-pixel form of a transposed convolution, and its
    kernel size, along one axis: offsets ``-floor((k-1-pad)/s)`` to ``floor((s-1+pad)/s)``."""
    lo, hi = -((k - 1 - pad) // s), (s - 1 + pad) // s
    return lo, hi - lo + 1


def _splice(graph: onnx.GraphProto, gone: list, last, nodes: list) -> None:
    """Put ``nodes`` where ``last`` was (their inputs all come before it), drop ``gone`` and ``last``,
    and the initializers nothing reads any more."""
    dropped = {n.output[0] for n in gone}
    order = []
    for n in graph.node:
        if n.output[0] == last.output[0]:
            order.extend(nodes)
        elif n.output[0] not in dropped:
            order.append(_copy(n))
    del graph.node[:]
    graph.node.extend(order)
    used = {i for n in graph.node for i in n.input}
    kept = [_copy_tensor(t) for t in graph.initializer if t.name in used]  # the old weights, unless shared
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _attrs(node) -> dict:
    """A node's attributes by name, as Python values."""
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _plain(attrs: dict) -> bool:
    """Ungrouped, undilated, explicit pads: the (transposed) convolutions these rewrites handle."""
    return (attrs.get("group", 1) == 1 and all(d == 1 for d in attrs.get("dilations", [1, 1]))
            and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def _weights_known(node, initializers: dict) -> bool:
    """The node's weights and bias (when it has one) are initializers: values this rewrite can move."""
    return all(i in initializers for i in node.input[1:3] if i)


def _span(k: int, pad: int, r: int) -> tuple[int, int]:
    """First low-resolution offset and the kernel size after the move, along one axis: output
    sub-pixel ``a`` and tap ``t`` read high-resolution offset ``a + t - pad``, i.e. low-resolution
    offset ``floor((a + t - pad) / r)``."""
    lo, hi = (-pad) // r, (r - 1 + k - 1 - pad) // r
    return lo, hi - lo + 1


def _moved_weights(w: np.ndarray, r: int, mode: str, pad_y: int, pad_x: int, lo_y: int, ky: int, lo_x: int,
                   kx: int) -> np.ndarray:
    """The weights of the moved convolution: output channel ``o*r*r + a*r + b`` (sub-pixel ``(a, b)``
    of output ``o``, CRD order), input channel that ``DepthToSpace`` in ``mode`` sends to channel
    ``c`` at sub-pixel ``(a', b')``."""
    c_out, c_in, kh, kw = w.shape
    w2 = np.zeros((c_out * r * r, c_in * r * r, ky, kx), dtype=w.dtype)
    for a in range(r):
        for t in range(kh):
            dy, ay = divmod(a + t - pad_y, r)
            for b in range(r):
                for u in range(kw):
                    dx, bx = divmod(b + u - pad_x, r)
                    rows = np.arange(c_out) * r * r + a * r + b
                    cols = _d2s_channels(c_in, r, mode, ay, bx)
                    w2[rows[:, None], cols[None, :], dy - lo_y, dx - lo_x] = w[:, :, t, u]
    return w2


def _d2s_channels(c: int, r: int, mode: str, a: int, b: int) -> np.ndarray:
    """The input channels of ``DepthToSpace(r, mode)`` that land on output channels ``0..c-1`` at sub-pixel (a, b)."""
    k = np.arange(c)
    return k * r * r + a * r + b if mode == "CRD" else (a * r + b) * c + k


def _moved_slope(slope: np.ndarray, c: int, r: int, mode: str) -> np.ndarray:
    """A PRelu slope for the unshuffled map: shared ones as they are, per-channel ones repeated per sub-pixel."""
    if slope.size == 1:
        return slope
    flat = slope.reshape(c)
    full = np.empty(c * r * r, dtype=slope.dtype)
    for a in range(r):
        for b in range(r):
            full[_d2s_channels(c, r, mode, a, b)] = flat
    return full.reshape((c * r * r,) + (1,) * (slope.ndim - 1))


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    import onnx

    out = onnx.NodeProto()
    out.CopyFrom(node)
    return out


def _copy_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    import onnx

    out = onnx.TensorProto()
    out.CopyFrom(tensor)
    return out


def _add(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    from onnx import numpy_helper

    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
    return name


def rewrite(model: onnx.ModelProto) -> list[Rewritten]:
    """Every rewrite of this module on ``model``, in place (transposed convolutions first: their
    sub-pixel form may then feed a narrow convolution that moves)."""
    return deconvs_as_subpixel_convs(model) + convs_before_depth_to_space(model)


def rewritten_for_openvino(src: Path, dst: Path) -> tuple[Path, list[Rewritten]]:
    """``src`` with :func:`rewrite` applied, saved as ``dst``; ``(src, [])`` when nothing in it is
    rewritten (no file written)."""
    import onnx

    model = onnx.load(str(src))
    done = rewrite(model)
    if not done:
        return src, []
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst, done


def record(done: list[Rewritten]) -> dict[str, dict[str, str]]:
    """What a manifest records of the rewrites: ``{"graph_rewrites": {node: how}}``, or nothing."""
    return {"graph_rewrites": {r.name: r.how for r in done}} if done else {}
