"""Two small CNNs for the QDQ tests and benchmarks (issue 18), in the
layout make_examples.write_model writes (DIR/<name>/model.onnx,
calibration/<sample>/<input>.npy, eval/...):

- ``rcnn``: conv -> ReLU, a 1x1 conv branch and a 3x3 AveragePool branch
  concatenated (two activations of different scales), a 1x1 conv back to
  8 channels, a residual Add with the ReLU output, a global average pool
  and a Gemm (8 channels at 16x16).
- ``yolo``: a YOLO-style neck: stride-2 convs with LeakyReLU-free ReLUs, a
  MaxPool, an upsampling Resize (nearest, x2) of the deep feature map
  concatenated with the shallow one, 3x3 and 1x1 convs to a detection
  head (3x64x64 input, 16/32/64 channels).
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = "image"


def _weights(rng):
    def w(name, shape, std):
        return numpy_helper.from_array(
            rng.normal(0, std, shape).astype(np.float32), name)
    return w


def residual_cnn(seed=0):
    rng = np.random.default_rng(seed)
    w = _weights(rng)
    inits = [w("c1.w", (8, 3, 3, 3), 0.3), w("c1.b", (8,), 0.1),
             w("c2.w", (8, 8, 1, 1), 0.3), w("c2.b", (8,), 0.1),
             w("c3.w", (8, 16, 1, 1), 0.25), w("c3.b", (8,), 0.1),
             w("fc.w", (10, 8), 0.3), w("fc.b", (10,), 0.1)]
    n = helper.make_node
    nodes = [
        n("Conv", ["image", "c1.w", "c1.b"], ["c1"], pads=[1, 1, 1, 1],
          name="conv1"),
        n("Relu", ["c1"], ["r1"], name="relu1"),
        n("Conv", ["r1", "c2.w", "c2.b"], ["c2"], name="conv2"),
        n("AveragePool", ["r1"], ["ap"], kernel_shape=[3, 3],
          pads=[1, 1, 1, 1], strides=[1, 1], count_include_pad=0,
          name="avgpool"),
        n("Concat", ["c2", "ap"], ["cat"], axis=1, name="concat"),
        n("Conv", ["cat", "c3.w", "c3.b"], ["c3"], name="conv3"),
        n("Add", ["c3", "r1"], ["res"], name="residual"),
        n("GlobalAveragePool", ["res"], ["gap"], name="gap"),
        n("Flatten", ["gap"], ["flat"], name="flatten"),
        n("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "residual_cnn",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT,
                                       [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       [1, 10])], inits)
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", 13)]), \
        (1, 3, 16, 16)


def yolo_cnn(seed=0, size=64):
    rng = np.random.default_rng(seed)
    w = _weights(rng)

    def conv_w(name, f, c, k):
        return [w(name + ".w", (f, c, k, k), (2.0 / (c * k * k)) ** 0.5),
                w(name + ".b", (f,), 0.05)]

    inits = (conv_w("stem", 16, 3, 3) + conv_w("down1", 32, 16, 3) +
             conv_w("down2", 64, 32, 3) + conv_w("lat", 32, 64, 1) +
             conv_w("fuse", 32, 64, 3) + conv_w("head", 18, 32, 1))
    inits.append(numpy_helper.from_array(
        np.array([1, 1, 2, 2], np.float32), "up.scales"))
    n = helper.make_node
    nodes = [
        n("Conv", ["image", "stem.w", "stem.b"], ["s"], pads=[1, 1, 1, 1],
          strides=[2, 2], name="stem"),
        n("Relu", ["s"], ["s_r"], name="stem_relu"),
        n("Conv", ["s_r", "down1.w", "down1.b"], ["d1"], pads=[1, 1, 1, 1],
          name="down1"),
        n("Relu", ["d1"], ["d1_r"], name="down1_relu"),
        n("MaxPool", ["d1_r"], ["p1"], kernel_shape=[2, 2], strides=[2, 2],
          name="pool1"),
        n("Conv", ["p1", "down2.w", "down2.b"], ["d2"], pads=[1, 1, 1, 1],
          name="down2"),
        n("Relu", ["d2"], ["d2_r"], name="down2_relu"),
        n("Conv", ["d2_r", "lat.w", "lat.b"], ["l"], name="lateral"),
        n("Relu", ["l"], ["l_r"], name="lateral_relu"),
        n("Resize", ["l_r", "", "up.scales"], ["up"], mode="nearest",
          name="upsample"),
        n("Concat", ["up", "d1_r"], ["cat"], axis=1, name="concat"),
        n("Conv", ["cat", "fuse.w", "fuse.b"], ["fu"], pads=[1, 1, 1, 1],
          name="fuse"),
        n("Relu", ["fu"], ["fu_r"], name="fuse_relu"),
        n("Conv", ["fu_r", "head.w", "head.b"], ["pred"], name="head"),
    ]
    half = size // 2
    graph = helper.make_graph(
        nodes, "yolo_neck",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT,
                                       [1, 3, size, size])],
        [helper.make_tensor_value_info("pred", TensorProto.FLOAT,
                                       [1, 18, half, half])], inits)
    return helper.make_model(graph,
                             opset_imports=[helper.make_opsetid("", 13)]), \
        (1, 3, size, size)


BUILDERS = {"rcnn": residual_cnn, "yolo": yolo_cnn}


def write_model(out_dir, name, seed=0, calib=16, eval_=1):
    """DIR/<name>/model.onnx and calibration/eval samples (standard normal
    images) as make_examples.write_model lays them out."""
    model, shape = BUILDERS[name](seed)
    onnx.checker.check_model(model)
    mdir = os.path.join(out_dir, name)
    os.makedirs(mdir, exist_ok=True)
    onnx.save(model, os.path.join(mdir, "model.onnx"))
    rng = np.random.default_rng(seed + 1)
    for kind, count in (("calibration", calib), ("eval", eval_)):
        for i in range(count):
            d = os.path.join(mdir, kind, f"sample_{i:03d}")
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, INPUT + ".npy"),
                    rng.normal(0, 1, shape).astype(np.float32))
    return mdir
