"""Shape and data-movement ONNX operators imported by quant-translate,
compiled by quant-opt and compared with onnxruntime: Reshape, Flatten,
Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Expand, Tile, Pad,
Shape, Size, ConstantOfShape and Range, with static (pinned) shapes and,
for the ops with run-time size arithmetic, with dynamic ones."""

import functools

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check as harness_check
from onnx_harness import make_model, run_quant_opt, vi

F = TensorProto.FLOAT
I64 = TensorProto.INT64
BIG = np.iinfo(np.int64).max

check = functools.partial(harness_check, rtol=1e-5, atol=1e-5,
                          check_shapes=True)


def ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def run(nodes, inputs, outputs, values, tmp_path, build_dir, inits=(),
        opset=17):
    """Runs a model whose outputs are float (int results are cast inside)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = make_model(nodes, inputs, [vi(o) for o in outputs], inits, opset)
    ours, ref = run_quant_opt(model, values, tmp_path, build_dir)
    check(ours, ref)


def run_dynamic(model, values, tmp_path, build_dir):
    """Like run but imports without pinning shapes, so that the dynamic-shape
    code paths run."""
    ours, ref = run_quant_opt(model, values, tmp_path, build_dir,
                              pin_shapes=False)
    check(ours, ref)


def test_reshape_flatten(tmp_path, build_dir):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    shapes = {"r1": [4, -1], "r2": [0, -1], "r3": [-1], "r4": [2, 0, 2, 2],
              "r5": [1, 24, 1]}
    nodes, inits, outs = [], [], []
    for name, shape in shapes.items():
        inits.append(ints(name + "_s", shape))
        nodes.append(helper.make_node("Reshape", ["x", name + "_s"], [name]))
        outs.append(name)
    for axis in (0, 1, 3, -1):
        name = f"f{axis}".replace("-", "m")
        nodes.append(helper.make_node("Flatten", ["x"], [name], axis=axis))
        outs.append(name)
    run(nodes, [vi("x", [2, 3, 4])], outs, {"x": x}, tmp_path, build_dir,
        inits)


def test_reshape_allowzero_and_old_opset(tmp_path, build_dir):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=1)]
    run(nodes, [vi("x", [3, 4])], ["y"], {"x": x}, tmp_path / "a", build_dir,
        [ints("s", [2, 6])], opset=14)
    # Opset 1-4: the shape is an attribute.
    nodes = [helper.make_node("Reshape", ["x"], ["y"], shape=[0, 2, -1])]
    run(nodes, [vi("x", [3, 4])], ["y"], {"x": x}, tmp_path / "b", build_dir,
        opset=4)


def test_squeeze_unsqueeze(tmp_path, build_dir):
    x = np.random.default_rng(0).normal(size=(2, 1, 3, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Squeeze", ["x", "a1"], ["s1"]),
        helper.make_node("Squeeze", ["x"], ["s2"]),
        helper.make_node("Squeeze", ["x", "am1"], ["s3"]),
        helper.make_node("Unsqueeze", ["x", "a0"], ["u1"]),
        helper.make_node("Unsqueeze", ["x", "a_ends"], ["u2"]),
        helper.make_node("Unsqueeze", ["s2", "a_mid"], ["u3"]),
    ]
    inits = [ints("a1", [1]), ints("am1", [-1, 1]), ints("a0", [0]),
             ints("a_ends", [0, -1]), ints("a_mid", [1, 2])]
    run(nodes, [vi("x", [2, 1, 3, 1])], ["s1", "s2", "s3", "u1", "u2", "u3"],
        {"x": x}, tmp_path, build_dir, inits)


def test_squeeze_unsqueeze_attributes(tmp_path, build_dir):
    x = np.random.default_rng(1).normal(size=(1, 3, 1)).astype(np.float32)
    nodes = [helper.make_node("Squeeze", ["x"], ["s"], axes=[0, -1]),
             helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1, 4])]
    run(nodes, [vi("x", [1, 3, 1])], ["s", "u"], {"x": x}, tmp_path,
        build_dir, opset=11)


def test_transpose(tmp_path, build_dir):
    x = np.random.default_rng(2).normal(size=(2, 3, 4)).astype(np.float32)
    nodes = [helper.make_node("Transpose", ["x"], ["t0"]),
             helper.make_node("Transpose", ["x"], ["t1"], perm=[1, 0, 2]),
             helper.make_node("Transpose", ["x"], ["t2"], perm=[2, 0, 1]),
             # A constant folds at import time.
             helper.make_node("Transpose", ["c"], ["t3"], perm=[1, 0])]
    c = numpy_helper.from_array(
        np.arange(6, dtype=np.float32).reshape(2, 3), "c")
    run(nodes, [vi("x", [2, 3, 4])], ["t0", "t1", "t2", "t3"], {"x": x},
        tmp_path, build_dir, [c])


def test_concat(tmp_path, build_dir):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3)).astype(np.float32)
    b = rng.normal(size=(1, 3)).astype(np.float32)
    c = rng.normal(size=(2, 2)).astype(np.float32)
    nodes = [helper.make_node("Concat", ["a", "b", "a"], ["c0"], axis=0),
             helper.make_node("Concat", ["a", "c"], ["c1"], axis=1),
             helper.make_node("Concat", ["c", "a", "c"], ["c2"], axis=-1)]
    run(nodes, [vi("a", [2, 3]), vi("b", [1, 3]), vi("c", [2, 2])],
        ["c0", "c1", "c2"], {"a": a, "b": b, "c": c}, tmp_path, build_dir)


def test_split(tmp_path, build_dir):
    x = np.random.default_rng(4).normal(size=(6, 4)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x", "sp"], ["a", "b"], axis=0),
             helper.make_node("Split", ["x"], ["c", "d"], axis=1),
             helper.make_node("Split", ["x"], ["e", "f", "g"], axis=-2)]
    run(nodes, [vi("x", [6, 4])], list("abcdefg"), {"x": x},
        tmp_path / "s13", build_dir, [ints("sp", [1, 5])])
    # Opset 11: split attribute.
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0,
                              split=[3, 2, 1])]
    run(nodes, [vi("x", [6, 4])], ["a", "b", "c"], {"x": x},
        tmp_path / "s11", build_dir, opset=11)
    # Opset 18: num_outputs, the last part smaller.
    x5 = np.random.default_rng(5).normal(size=(5, 2)).astype(np.float32)
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0,
                              num_outputs=3)]
    run(nodes, [vi("x", [5, 2])], ["a", "b", "c"], {"x": x5},
        tmp_path / "s18", build_dir, opset=18)


# (starts, ends, axes, steps) on a [5, 6, 4] input.
SLICES = [
    ([1], [4], [0], [1]),
    ([0, 1], [BIG, -1], [1, 2], [2, 1]),
    ([-2], [-BIG], [1], [-1]),            # backwards to the start
    ([4], [0], [0], [-2]),
    ([10, -10], [-10, 10], [0, 2], [-1, 1]),  # clamped starts and ends
    ([3, 5, 3], [0, -BIG, 0], [0, 1, -1], [-2, -3, -1]),
    ([-1], [BIG], [-3], [1]),
]


def test_slice(tmp_path, build_dir):
    x = np.arange(120, dtype=np.float32).reshape(5, 6, 4)
    nodes, inits, outs = [], [], []
    for i, (s, e, a, st) in enumerate(SLICES):
        names = [f"{k}{i}" for k in ("s", "e", "a", "st")]
        for name, v in zip(names, (s, e, a, st)):
            inits.append(ints(name, v))
        nodes.append(helper.make_node("Slice", ["x", *names], [f"y{i}"]))
        outs.append(f"y{i}")
    # Without axes and steps.
    inits += [ints("s_all", [1, 2]), ints("e_all", [3, 5])]
    nodes.append(helper.make_node("Slice", ["x", "s_all", "e_all"], ["z"]))
    run(nodes, [vi("x", [5, 6, 4])], outs + ["z"], {"x": x}, tmp_path,
        build_dir, inits)


def test_slice_opset9_attributes(tmp_path, build_dir):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    nodes = [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0],
                              ends=[1000, -2], axes=[0, 1]),
             helper.make_node("Slice", ["x"], ["z"], starts=[2], ends=[3])]
    run(nodes, [vi("x", [4, 6])], ["y", "z"], {"x": x}, tmp_path, build_dir,
        opset=9)


def test_expand_tile(tmp_path, build_dir):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 1)).astype(np.float32)
    nodes = [helper.make_node("Expand", ["x", "s1"], ["e1"]),
             helper.make_node("Expand", ["x", "s2"], ["e2"]),
             helper.make_node("Expand", ["x", "s3"], ["e3"]),
             helper.make_node("Tile", ["x", "r1"], ["t1"]),
             helper.make_node("Tile", ["x", "r2"], ["t2"])]
    inits = [ints("s1", [2, 3, 4]), ints("s2", [1, 5]), ints("s3", [3, 1]),
             ints("r1", [2, 3]), ints("r2", [1, 1])]
    run(nodes, [vi("x", [3, 1])], ["e1", "e2", "e3", "t1", "t2"], {"x": x},
        tmp_path, build_dir, inits)


PADS = [
    ("constant", [1, 0, 2, 1], 1.5),
    ("constant", [-1, 1, 0, -2], None),  # negative pads crop
    ("reflect", [2, 1, 1, 3], None),
    ("edge", [3, 0, 1, 2], None),
    ("reflect", [-1, 2, 1, 0], None),
]


def test_pad(tmp_path, build_dir):
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    nodes, inits, outs = [], [], []
    for i, (mode, pads, value) in enumerate(PADS):
        ins = ["x", f"p{i}"]
        inits.append(ints(f"p{i}", pads))
        if value is not None:
            inits.append(numpy_helper.from_array(np.array(value, np.float32),
                                                 f"v{i}"))
            ins.append(f"v{i}")
        nodes.append(helper.make_node("Pad", ins, [f"y{i}"], mode=mode))
        outs.append(f"y{i}")
    run(nodes, [vi("x", [4, 5])], outs, {"x": x}, tmp_path / "p11", build_dir,
        inits)
    # Opset 18: axes; a run-time constant_value.
    x3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    nodes = [helper.make_node("Pad", ["x", "p", "v", "ax"], ["y"]),
             helper.make_node("Pad", ["x", "p", "", "ax"], ["z"],
                              mode="edge")]
    run(nodes, [vi("x", [2, 3, 4]), vi("v", [])], ["y", "z"],
        {"x": x3, "v": np.array(-7, np.float32)}, tmp_path / "p18", build_dir,
        [ints("p", [1, 2, 0, 1]), ints("ax", [-1, 1])], opset=18)
    # Opset 2-10: attributes.
    nodes = [helper.make_node("Pad", ["x"], ["y"], pads=[0, 1, 1, 0],
                              value=3.0),
             helper.make_node("Pad", ["x"], ["z"], pads=[1, 1, 1, 1],
                              mode="reflect")]
    run(nodes, [vi("x", [4, 5])], ["y", "z"], {"x": x}, tmp_path / "p2",
        build_dir, opset=10)


def test_shape_size_constant_of_shape_range(tmp_path, build_dir):
    x = np.random.default_rng(7).normal(size=(2, 3, 4)).astype(np.float32)
    cast = lambda i, o: helper.make_node("Cast", [i], [o], to=F)  # noqa: E731
    value = helper.make_tensor("value", F, [1], [2.5])
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"]), cast("sh", "shape"),
        helper.make_node("Shape", ["x"], ["sh1"], start=1), cast("sh1", "shape1"),
        helper.make_node("Shape", ["x"], ["sh2"], start=-2, end=-1),
        cast("sh2", "shape2"),
        helper.make_node("Size", ["x"], ["sz"]), cast("sz", "size"),
        helper.make_node("ConstantOfShape", ["sh1"], ["cos"], value=value),
        helper.make_node("Range", ["r0", "r1", "r2"], ["ri"]),
        cast("ri", "range_i"),
        helper.make_node("Range", ["f0", "f1", "f2"], ["range_f"]),
        # Shape -> Slice -> Concat -> Reshape folds into a constant shape.
        helper.make_node("Slice", ["sh", "c0", "c1"], ["lead"]),
        helper.make_node("Concat", ["lead", "m1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["x", "newshape"], ["flat"]),
        # ConstantOfShape feeding Expand.
        helper.make_node("ConstantOfShape", ["sh2"], ["ones"]),
        helper.make_node("Expand", ["x", "sh"], ["same"]),
    ]
    inits = [
        ints("r0", 10), ints("r1", -3), ints("r2", -4),
        numpy_helper.from_array(np.array(0.5, np.float32), "f0"),
        numpy_helper.from_array(np.array(2.2, np.float32), "f1"),
        numpy_helper.from_array(np.array(0.25, np.float32), "f2"),
        ints("c0", [0]), ints("c1", [1]), ints("m1", [-1]),
    ]
    run(nodes, [vi("x", [2, 3, 4])],
        ["shape", "shape1", "shape2", "size", "cos", "range_i", "range_f",
         "flat", "ones", "same"],
        {"x": x}, tmp_path, build_dir, inits)


def test_dynamic_shapes(tmp_path, build_dir):
    """Run-time sizes: Reshape's -1, Slice clamping, Split, Pad, Shape."""
    x = np.arange(60, dtype=np.float32).reshape(5, 3, 4)
    nodes = [
        helper.make_node("Reshape", ["x", "s0"], ["r"]),
        helper.make_node("Slice", ["x", "st", "en", "ax"], ["sl"]),
        helper.make_node("Split", ["x"], ["p", "q", "t"], axis=0,
                         num_outputs=3),
        helper.make_node("Pad", ["x", "pads"], ["pd"], mode="reflect"),
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Cast", ["sh"], ["shape"], to=F),
        helper.make_node("Flatten", ["x"], ["fl"], axis=2),
        helper.make_node("Tile", ["x", "rep"], ["ti"]),
        helper.make_node("Concat", ["x", "x"], ["cc"], axis=0),
    ]
    inits = [ints("s0", [-1, 6]), ints("st", [1, -3]), ints("en", [BIG, 10]),
             ints("ax", [0, 2]), ints("pads", [1, 0, 0, 2, 1, 1]),
             ints("rep", [2, 1, 1])]
    model = make_model(
        nodes, [vi("x", ["n", 3, 4])],
        [vi(o) for o in ("r", "sl", "p", "q", "t", "pd", "shape", "fl", "ti",
                         "cc")], inits, opset=18)
    run_dynamic(model, {"x": x}, tmp_path, build_dir)
