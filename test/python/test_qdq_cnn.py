"""QDQ CNNs whose int8 convolutions run with their dequantizing epilogue in
the kernel (qopt_kernel_conv2d_nchw_s8_dequant, issue 18): a YOLO-style
neck (stride-2 convs, MaxPool, nearest Resize, Concat) quantized by
onnxruntime's quantize_static, and hand-written opset 13 and 21 QDQ graphs
(int32 biases, MaxPool, Resize, Concat of equal and different scales,
residual Add, AveragePool), each within one step (LSB) of the output scale
of onnxruntime running the same QDQ model, and compiled to the fused
kernel."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

import qdq_cnns
from test_qdq import (Samples, assert_within_lsb, check_vs_ort,
                      compile_model, run_artifact)

KERNEL = "qopt_kernel_conv2d_nchw_s8_dequant"


def _kernel_calls(build_dir, model, tmp_path, *extra):
    """How many calls of each int8 conv kernel the compiled model makes."""
    ll = tmp_path / "model.ll"
    compile_model(build_dir, model, ll, "--emit=llvm", *extra)
    text = ll.read_text()
    return (text.count(f"call void @{KERNEL}("),
            text.count("call void @qopt_kernel_conv2d_nchw_s8("))


@pytest.mark.parametrize("activation", ["uint8", "int8"])
def test_yolo_quantize_static(build_dir, tmp_path, activation):
    qt = QuantType.QUInt8 if activation == "uint8" else QuantType.QInt8
    rng = np.random.default_rng(3)
    samples = [{"image": rng.normal(0, 1, (1, 3, 64, 64)).astype(np.float32)}
               for _ in range(8)]
    model, _ = qdq_cnns.yolo_cnn()
    fpath = tmp_path / "yolo.onnx"
    onnx.save(model, str(fpath))
    qdq = tmp_path / "yolo_qdq.onnx"
    quantize_static(str(fpath), str(qdq), Samples(samples[:6]),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=qt, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    ops = {n.op_type for n in onnx.load(str(qdq)).graph.node}
    assert {"Resize", "Concat", "MaxPool"} <= ops
    assert check_vs_ort(build_dir, qdq, samples[6:], tmp_path)[1] <= 1.0
    # All six convolutions call the fused kernel; none the plain one.
    assert _kernel_calls(build_dir, qdq, tmp_path) == (6, 0)


def _hand_written(path, opset, signed):
    """x -> Q/DQ -> conv1 (int8 weights per channel, int32 bias) -> Q/DQ ->
    [MaxPool -> Q/DQ -> Resize x2 (nearest) -> Q/DQ] concatenated with
    conv1's output (same scale) -> Q/DQ (another scale) -> conv2 (1x1, no
    bias) -> Q/DQ -> Add conv1's output -> Q/DQ -> AveragePool -> Q/DQ."""
    rng = np.random.default_rng(opset)
    qtype = TensorProto.INT8 if signed else TensorProto.UINT8
    inits, nodes = [], []

    def const(name, value, dtype=None):
        arr = np.asarray(value, dtype=dtype)
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def zp(v):
        return np.int8(v - 128) if signed else np.uint8(v)

    def qdq(x, name, scale, zero):
        s = const(name + ".s", np.float32(scale))
        z = const(name + ".z", zp(zero))
        nodes.append(helper.make_node("QuantizeLinear", [x, s, z],
                                      [name + ".q"], name=name + "/Q"))
        nodes.append(helper.make_node("DequantizeLinear", [name + ".q", s, z],
                                      [name], name=name + "/DQ"))
        return name

    def weight(name, shape, in_scale, bias=True):
        w = rng.normal(0, 0.3, shape).astype(np.float32)
        ws = (np.abs(w).reshape(shape[0], -1).max(1) / 127).astype(np.float32)
        wq = np.clip(np.round(w / ws[:, None, None, None]), -127,
                     127).astype(np.int8)
        q = const(name + ".q", wq)
        s = const(name + ".s", ws)
        z = const(name + ".z", np.zeros(shape[0], np.int8))
        nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [name],
                                      axis=0, name=name + "/DQ"))
        if not bias:
            return [name]
        bs = (in_scale * ws).astype(np.float32)
        bq = const(name + ".bq", rng.integers(-2000, 2000, shape[0],
                                              dtype=np.int32))
        bss = const(name + ".bs", bs)
        nodes.append(helper.make_node("DequantizeLinear", [bq, bss],
                                      [name + ".b"], axis=0,
                                      name=name + ".b/DQ"))
        return [name, name + ".b"]

    x = qdq("image", "xq", 0.02, 128)
    c1 = weight("c1.w", (8, 4, 3, 3), 0.02)
    nodes.append(helper.make_node("Conv", [x] + c1, ["c1"], pads=[1] * 4,
                                  name="conv1"))
    r1 = qdq("c1", "c1q", 0.05, 120)
    nodes.append(helper.make_node("MaxPool", [r1], ["mp"], kernel_shape=[2, 2],
                                  strides=[2, 2], name="pool"))
    mp = qdq("mp", "mpq", 0.05, 120)
    scales = const("up.scales", np.array([1, 1, 2, 2], np.float32))
    nodes.append(helper.make_node("Resize", [mp, "", scales], ["up"],
                                  mode="nearest", name="upsample"))
    up = qdq("up", "upq", 0.05, 120)
    nodes.append(helper.make_node("Concat", [r1, up], ["cat"], axis=1,
                                  name="concat"))
    cat = qdq("cat", "catq", 0.07, 110)
    c2 = weight("c2.w", (8, 16, 1, 1), 0.07, bias=False)
    nodes.append(helper.make_node("Conv", [cat] + c2, ["c2"], name="conv2"))
    c2q = qdq("c2", "c2q", 0.08, 128)
    nodes.append(helper.make_node("Add", [c2q, r1], ["res"], name="residual"))
    res = qdq("res", "resq", 0.09, 125)
    nodes.append(helper.make_node("AveragePool", [res], ["ap"],
                                  kernel_shape=[2, 2], strides=[2, 2],
                                  name="avgpool"))
    qdq("ap", "out", 0.06, 128)
    graph = helper.make_graph(
        nodes, f"hand_qdq_{opset}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       [1, 4, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                       [1, 8, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(
        "", opset)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("opset,signed", [(13, False), (21, True)])
def test_hand_written_qdq(build_dir, tmp_path, opset, signed):
    path = _hand_written(tmp_path / f"hand{opset}.onnx", opset, signed)
    rng = np.random.default_rng(7)
    feeds = [{"image": rng.normal(0, 1, (1, 4, 8, 8)).astype(np.float32)}
             for _ in range(3)]
    # Within one step (assert_within_lsb): onnxruntime sums the dequantized
    # values in float, the integer convolutions exactly.
    check_vs_ort(build_dir, path, feeds, tmp_path)
    # conv1 (int32 bias) and conv2 (no bias: a constant 0 for every
    # channel) both call the fused kernel.
    assert _kernel_calls(build_dir, path, tmp_path) == (2, 0)
    # Unfolded (float semantics), the same within one step.
    so = tmp_path / "unfolded.so"
    compile_model(build_dir, path, so, "--fold-qdq=false")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds[0])[0]
    ours = run_artifact(build_dir, so, feeds[0], tmp_path / "unf")["out"]
    assert_within_lsb(ours, ref, 0.06)
