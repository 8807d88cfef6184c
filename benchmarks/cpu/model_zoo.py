#!/usr/bin/env python3
"""Generated CNNs for the CPU benchmarks and profiles (fixed seed, random
but trained-looking weights; no downloads).

    resnet   ResNet-18-style classifier, 1x3x224x224: 7x7/2 stem + BN + ReLU
             + 3x3/2 max pool, 4 stages of two basic blocks (3x3 conv + BN
             + ReLU, 3x3 conv + BN, residual add, ReLU; 1x1/2 projection on
             the downsampling blocks), global average pool, Gemm.
             Widths 32-64-128-256 (a quarter of torchvision's FLOPs).
    mobilenet  MobileNetV3-style classifier, 1x3x224x224: depthwise 3x3
             convs, HardSwish, inverted residual blocks.
    db       DB/OCR-style text detector, 1x3x640x640: a conv backbone of
             stride 4..32 (3x3 conv + BN + ReLU, strides 2), an FPN neck
             (1x1 lateral convs, nearest Resize x2 upsampling + Add), the four
             maps upsampled to stride 4 and concatenated, a 3x3 conv head,
             two ConvTranspose-free Resize x2 steps and a Sigmoid probability
             map at stride 1.

    python benchmarks/cpu/model_zoo.py --out DIR [--models resnet,db]

Writes DIR/<name>/model.onnx and DIR/<name>/input.npy.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], {}

    def name(self, op):
        n = self.count.get(op, 0)
        self.count[op] = n + 1
        return f"/{op}_{n}"

    def init(self, value):
        name = f"w{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(
            np.asarray(value, dtype=np.float32), name))
        return name

    def op(self, op_type, inputs, **attrs):
        name = self.name(op_type)
        out = name + "_out"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name,
                                           **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, bias=False):
        w = self.rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)),
                            (cout, cin, k, k))
        ins = [x, self.init(w)]
        if bias:
            ins.append(self.init(self.rng.normal(0.0, 0.05, cout)))
        p = k // 2
        return self.op("Conv", ins, kernel_shape=[k, k], strides=[stride] * 2,
                       pads=[p] * 4)

    def bn(self, x, c):
        r = self.rng
        return self.op("BatchNormalization", [
            x, self.init(1.0 + r.normal(0, 0.2, c)),
            self.init(r.normal(0, 0.1, c)), self.init(r.normal(0, 0.3, c)),
            self.init(np.exp(r.normal(0, 0.5, c)))], epsilon=1e-5)

    def cbr(self, x, cin, cout, k, stride=1, relu=True):
        x = self.bn(self.conv(x, cin, cout, k, stride), cout)
        return self.op("Relu", [x]) if relu else x

    def up2(self, x):
        scales = self.init(np.array([1, 1, 2, 2], np.float32))
        return self.op("Resize", [x, "", scales], mode="nearest")

    def model(self, name, inp, shape, out, oshape):
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, oshape)],
            initializer=self.inits)
        m = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return m


def build_resnet(seed=0):
    g = Graph(seed)
    x = g.cbr("image", 3, 32, 7, 2)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2],
             pads=[1, 1, 1, 1])
    cin = 32
    for stage, cout in enumerate([32, 64, 128, 256]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            y = g.cbr(x, cin, cout, 3, stride)
            y = g.cbr(y, cout, cout, 3, 1, relu=False)
            sc = x
            if stride != 1 or cin != cout:
                sc = g.cbr(x, cin, cout, 1, stride, relu=False)
            x = g.op("Relu", [g.op("Add", [y, sc])])
            cin = cout
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    w = g.init(g.rng.normal(0, 0.05, (1000, cin)))
    b = g.init(np.zeros(1000))
    x = g.op("Gemm", [x, w, b], transB=1)
    return g.model("resnet", "image", [1, 3, 224, 224], x, [1, 1000]), (1, 3, 224, 224)


def build_db(seed=0):
    g = Graph(seed)
    # Backbone: stride 2 stem, then stages at strides 4, 8, 16, 32.
    x = g.cbr("image", 3, 16, 3, 2)
    feats, cin = [], 16
    for cout in [24, 40, 96, 160]:
        x = g.cbr(x, cin, cout, 3, 2)
        x = g.cbr(x, cout, cout, 3, 1)
        feats.append(x)
        cin = cout
    # FPN neck: 1x1 laterals to 64 channels, top-down upsample + add.
    lat = [g.conv(f, c, 64, 1) for f, c in zip(feats, [24, 40, 96, 160])]
    td = [None] * 4
    td[3] = lat[3]
    for i in (2, 1, 0):
        td[i] = g.op("Add", [lat[i], g.up2(td[i + 1])])
    outs = []
    for i, t in enumerate(td):
        y = g.conv(t, 64, 16, 3)
        for _ in range(i):
            y = g.up2(y)
        outs.append(y)
    x = g.op("Concat", outs, axis=1)
    # Head: probability map at stride 1.
    x = g.cbr(x, 64, 16, 3)
    x = g.up2(x)
    x = g.cbr(x, 16, 16, 3)
    x = g.up2(x)
    x = g.conv(x, 16, 1, 1, bias=True)
    x = g.op("Sigmoid", [x])
    return g.model("db", "image", [1, 3, 640, 640], x, [1, 1, 640, 640]), (1, 3, 640, 640)


def build_mobilenet(seed=0):
    """MobileNetV3-style classifier, 1x3x224x224: a stride-2 stem, inverted
    residual blocks (1x1 expand + BN + HardSwish, 3x3 depthwise + BN +
    HardSwish, 1x1 project + BN, residual add when shapes allow)."""
    g = Graph(seed)

    def dw(x, c, stride):
        w = g.rng.normal(0.0, np.sqrt(2.0 / 9), (c, 1, 3, 3))
        return g.op("Conv", [x, g.init(w)], kernel_shape=[3, 3],
                    strides=[stride] * 2, pads=[1] * 4, group=c)

    x = g.op("HardSwish", [g.cbr("image", 3, 16, 3, 2, relu=False)])
    cin = 16
    for cout, expand, stride in [(16, 16, 1), (24, 64, 2), (24, 72, 1),
                                 (40, 72, 2), (40, 120, 1), (80, 240, 2),
                                 (80, 200, 1), (112, 480, 1), (160, 672, 2),
                                 (160, 960, 1)]:
        y = g.op("HardSwish", [g.cbr(x, cin, expand, 1, relu=False)])
        y = g.op("HardSwish", [g.bn(dw(y, expand, stride), expand)])
        y = g.cbr(y, expand, cout, 1, relu=False)
        x = g.op("Add", [x, y]) if stride == 1 and cin == cout else y
        cin = cout
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    w = g.init(g.rng.normal(0, 0.05, (1000, cin)))
    x = g.op("Gemm", [x, w, g.init(np.zeros(1000))], transB=1)
    return (g.model("mobilenet", "image", [1, 3, 224, 224], x, [1, 1000]),
            (1, 3, 224, 224))


BUILDERS = {"resnet": build_resnet, "db": build_db,
            "mobilenet": build_mobilenet}


def write_model(out_dir, name, seed=0):
    model, shape = BUILDERS[name](seed)
    onnx.checker.check_model(model)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    x = np.random.default_rng(seed + 1).normal(0, 1, shape).astype(np.float32)
    np.save(os.path.join(d, "input.npy"), x)
    return os.path.join(d, "model.onnx"), os.path.join(d, "input.npy")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(BUILDERS))
    args = ap.parse_args(argv)
    for name in args.models.split(","):
        print(*write_model(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
