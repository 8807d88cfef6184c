"""Indexing and rearrangement operators imported from ONNX, compiled by
quant-opt and compared with onnxruntime: Gather, GatherElements, GatherND,
ScatterND, Trilu, DepthToSpace, SpaceToDepth, OneHot, Einsum, Resize and
NonZero. The harness feeds float32 inputs and compares float32 outputs, so
run-time indices come from a Cast of a float input and int results are cast
back to float inside the models."""

import functools

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_harness import check as harness_check
from onnx_harness import make_model, run_quant_opt, vi

F = TensorProto.FLOAT
I64 = TensorProto.INT64

check = functools.partial(harness_check, rtol=1e-5, atol=1e-6,
                          check_shapes=True)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def cast(src, dst, to=I64):
    return helper.make_node("Cast", [src], [dst], to=to)


def run(nodes, inputs, outputs, inits, feeds, tmp_path, build_dir, opset=17):
    model = make_model(nodes, [vi(k, list(v.shape)) for k, v in feeds.items()],
                       [vi(o) for o in outputs], inits, opset)
    ours, ref = run_quant_opt(model, feeds, tmp_path, build_dir)
    return ours, ref


def test_gather(tmp_path, build_dir):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    fi = np.array([[0, -1, 2], [3, -4, 1]], np.float32)  # run-time indices
    nodes = [
        cast("fi", "ri"),
        helper.make_node("Gather", ["x", "ci"], ["g0"], axis=0),
        helper.make_node("Gather", ["x", "ri"], ["g1"], axis=1),
        helper.make_node("Gather", ["x", "c1"], ["g2"], axis=-1),
        helper.make_node("Gather", ["x", "s_neg"], ["g3"], axis=1),
        helper.make_node("Gather", ["x", "s_pos"], ["g4"], axis=2),
        helper.make_node("Gather", ["x", "ci32"], ["g5"], axis=2),
        # a run-time scalar index
        helper.make_node("Gather", ["ri", "s_pos"], ["rs"], axis=1),
        helper.make_node("Gather", ["rs", "s_pos"], ["rss"], axis=0),
        helper.make_node("Gather", ["x", "rss"], ["g6"], axis=2),
    ]
    inits = [init("ci", np.array([2, 0, -1, 1], np.int64)),
             init("c1", np.array([[4], [-5]], np.int64)),
             init("s_neg", np.array(-2, np.int64)),
             init("s_pos", np.array(1, np.int64)),
             init("ci32", np.array([3, -1, 0], np.int32))]
    ours, ref = run(nodes, None, ["g0", "g1", "g2", "g3", "g4", "g5", "g6"],
                    inits, {"x": x, "fi": fi}, tmp_path, build_dir)
    check(ours, ref)


def test_gather_elements_and_nd(tmp_path, build_dir):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    d = rng.normal(size=(2, 3, 4)).astype(np.float32)
    fe = np.array([[0, 2, -1, 1], [-3, 1, 2, 0]], np.float32)
    nodes = [
        cast("fe", "ie"),
        helper.make_node("GatherElements", ["x", "ie"], ["e0"], axis=0),
        helper.make_node("GatherElements", ["x", "ci"], ["e1"], axis=1),
        helper.make_node("GatherElements", ["d", "cd"], ["e2"], axis=-1),
        helper.make_node("GatherND", ["d", "n1"], ["n1o"]),
        helper.make_node("GatherND", ["d", "n2"], ["n2o"]),
        helper.make_node("GatherND", ["d", "n3"], ["n3o"]),
        helper.make_node("GatherND", ["d", "nb"], ["nbo"], batch_dims=1),
        helper.make_node("GatherND", ["d", "nb2"], ["nb2o"], batch_dims=1),
    ]
    inits = [
        init("ci", np.array([[3, 0], [-1, 1], [2, 2]], np.int64)),
        init("cd", np.array([[[0, 3], [1, -1], [2, 2]],
                             [[3, 3], [0, 1], [-4, 0]]], np.int64)),
        init("n1", np.array([[1], [0], [-1]], np.int64)),          # [3, 4] slices
        init("n2", np.array([[1, 2], [0, -1]], np.int64)),         # rows
        init("n3", np.array([[[1, 2, 3]], [[0, 0, -1]]], np.int64)),  # scalars
        init("nb", np.array([[2], [-1]], np.int64)),
        init("nb2", np.array([[[0, 1], [2, 3]], [[1, 1], [0, -1]]], np.int64)),
    ]
    ours, ref = run(nodes, None, ["e0", "e1", "e2", "n1o", "n2o", "n3o", "nbo",
                                  "nb2o"], inits, {"x": x, "d": d, "fe": fe},
                    tmp_path, build_dir)
    check(ours, ref)


@pytest.mark.parametrize("reduction,opset", [
    (None, 13), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
def test_scatter_nd(tmp_path, build_dir, reduction, opset):
    rng = np.random.default_rng(2)
    d = rng.normal(size=(4, 3, 2)).astype(np.float32)
    u1 = rng.normal(size=(3, 3, 2)).astype(np.float32)
    u2 = rng.normal(size=(2, 2)).astype(np.float32)
    fi = np.array([[2], [-1], [2]], np.float32)  # a duplicate index
    attrs = {} if reduction is None else {"reduction": reduction}
    nodes = [
        cast("fi", "ri"),
        helper.make_node("ScatterND", ["d", "ri", "u1"], ["s1"], **attrs),
        helper.make_node("ScatterND", ["d", "c2", "u2"], ["s2"], **attrs),
        helper.make_node("ScatterND", ["d", "c3", "u3"], ["s3"], **attrs),
    ]
    inits = [init("c2", np.array([[0, 1], [3, 2]], np.int64)),
             init("c3", np.array([[1, 2, 1], [0, 0, 0]], np.int64)),
             init("u3", np.array([5.0, -2.0], np.float32))]
    if reduction is None:  # duplicates are undefined without a reduction
        fi = np.array([[2], [-1], [0]], np.float32)
    ours, ref = run(nodes, None, ["s1", "s2", "s3"], inits,
                    {"d": d, "u1": u1, "u2": u2, "fi": fi}, tmp_path,
                    build_dir, opset)
    check(ours, ref)


def test_trilu(tmp_path, build_dir):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 5)).astype(np.float32)
    fk = np.array(-1, np.float32)
    nodes = [
        cast("fk", "rk"),
        helper.make_node("Trilu", ["x"], ["u0"]),
        helper.make_node("Trilu", ["x"], ["l0"], upper=0),
        helper.make_node("Trilu", ["x", "k2"], ["u2"], upper=1),
        helper.make_node("Trilu", ["x", "km"], ["lm"], upper=0),
        helper.make_node("Trilu", ["x", "rk"], ["ur"]),
        helper.make_node("Trilu", ["x", "rk"], ["lr"], upper=0),
    ]
    inits = [init("k2", np.array(2, np.int64)),
             init("km", np.array(-2, np.int64))]
    ours, ref = run(nodes, None, ["u0", "l0", "u2", "lm", "ur", "lr"], inits,
                    {"x": x, "fk": fk}, tmp_path, build_dir, opset=14)
    check(ours, ref)


def test_depth_space(tmp_path, build_dir):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 8, 3, 2)).astype(np.float32)
    s = rng.normal(size=(1, 3, 4, 6)).astype(np.float32)
    nodes = [
        helper.make_node("DepthToSpace", ["x"], ["dcr"], blocksize=2),
        helper.make_node("DepthToSpace", ["x"], ["crd"], blocksize=2,
                         mode="CRD"),
        helper.make_node("SpaceToDepth", ["s"], ["s2d"], blocksize=2),
        # a round trip (compared through a Sub: the pipeline cannot return
        # a function argument, which the folded round trip would be)
        helper.make_node("DepthToSpace", ["s2d"], ["back"], blocksize=2),
        helper.make_node("Sub", ["back", "s"], ["diff"]),
    ]
    ours, ref = run(nodes, None, ["dcr", "crd", "s2d", "diff"], [],
                    {"x": x, "s": s}, tmp_path, build_dir, opset=13)
    check(ours, ref)
    assert not ours["diff"].any()


@pytest.mark.parametrize("opset", [9, 11])
def test_one_hot(tmp_path, build_dir, opset):
    fi = np.array([[0, 2, 4], [1, 5, 3]], np.float32)
    if opset >= 11:
        fi[1, 1] = -1  # counts from the end from opset 11
    nodes = [
        cast("fi", "ri"),
        helper.make_node("OneHot", ["ri", "depth", "vals"], ["o0"]),
        helper.make_node("OneHot", ["ri", "depth", "vals"], ["o1"], axis=0),
        helper.make_node("OneHot", ["fi", "fdepth", "vals"], ["o2"], axis=1),
        helper.make_node("OneHot", ["ri", "fdepth", "ivals"], ["oi"], axis=-2),
        cast("oi", "o3", F),
    ]
    inits = [init("depth", np.array(5, np.int64)),
             init("fdepth", np.array([4.0], np.float32)),
             init("vals", np.array([-0.5, 2.0], np.float32)),
             init("ivals", np.array([1, 7], np.int32))]
    ours, ref = run(nodes, None, ["o0", "o1", "o2", "o3"], inits, {"fi": fi},
                    tmp_path, build_dir, opset)
    check(ours, ref)


def test_einsum(tmp_path, build_dir):
    rng = np.random.default_rng(5)
    feeds = {
        "a": rng.normal(size=(2, 3, 4)).astype(np.float32),
        "b": rng.normal(size=(2, 4, 5)).astype(np.float32),
        "q": rng.normal(size=(2, 2, 3, 4)).astype(np.float32),
        "k": rng.normal(size=(2, 2, 5, 4)).astype(np.float32),
        "m": rng.normal(size=(3, 4)).astype(np.float32),
        "n": rng.normal(size=(4, 6)).astype(np.float32),
        "u": rng.normal(size=(3, 4)).astype(np.float32),
    }
    cases = [
        ("bmm", "bij,bjk->bik", ["a", "b"]),
        ("attn", "bhqd,bhkd->bhqk", ["q", "k"]),
        ("mm", "ij,jk->ik", ["m", "n"]),
        ("dot", "bi,bi->b", ["m", "u"]),
        ("implicit", "ij,jk", ["m", "n"]),
        ("transpose", "ij->ji", ["m"]),
        ("total", "ij->", ["m"]),
        ("outer", "i,j->ij", ["v", "w"]),
        ("three", "ij,jk,kl->il", ["m", "n", "p"]),
        ("spaces", "b i j , b j k -> b k i", ["a", "b"]),
    ]
    nodes = []
    inits = [init("v", np.array([1.0, -2.0, 0.5], np.float32)),
             init("w", np.array([3.0, 0.25], np.float32)),
             init("p", rng.normal(size=(6, 2)).astype(np.float32))]
    for name, eq, ins in cases:
        nodes.append(helper.make_node("Einsum", ins, [name], equation=eq))
    ours, ref = run(nodes, None, [c[0] for c in cases], inits, feeds, tmp_path,
                    build_dir, opset=12)
    check(ours, ref, rtol=1e-4, atol=1e-5)


NEAREST_MODES = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
COORD_MODES = ["half_pixel", "pytorch_half_pixel", "align_corners",
               "asymmetric"]


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize(tmp_path, build_dir, mode):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 2, 4, 6)).astype(np.float32)
    resizes = [  # (scales, sizes)
        (np.array([1, 1, 2, 1.5], np.float32), None),
        (np.array([1, 1, 0.5, 0.5], np.float32), None),
        (np.array([1, 1, 1.7, 0.8], np.float32), None),
        (None, np.array([1, 2, 7, 3], np.int64)),
        (None, np.array([1, 2, 1, 9], np.int64)),
    ]
    nodes, inits, outs = [], [], []
    modes = NEAREST_MODES if mode == "nearest" else ["round_prefer_floor"]
    for ci, ctm in enumerate(COORD_MODES):
        for ri, (scales, sizes) in enumerate(resizes):
            for ni, nm in enumerate(modes):
                if mode == "nearest" and (ri + ci) % 2 and ni:
                    continue  # keep the model small
                name = f"y_{ci}_{ri}_{ni}"
                ins = ["x", "", f"sc{ri}" if scales is not None else ""]
                if sizes is not None:
                    ins.append(f"sz{ri}")
                nodes.append(helper.make_node(
                    "Resize", ins, [name], mode=mode,
                    coordinate_transformation_mode=ctm, nearest_mode=nm))
                outs.append(name)
    for ri, (scales, sizes) in enumerate(resizes):
        if scales is not None:
            inits.append(init(f"sc{ri}", scales))
        else:
            inits.append(init(f"sz{ri}", sizes))
    ours, ref = run(nodes, None, outs, inits, {"x": x}, tmp_path, build_dir,
                    opset=13)
    if mode == "linear":
        # align_corners with scales whose output size is rounded down
        # (4 * 1.7 -> 6, 6 * 0.8 -> 4): onnxruntime maps coordinates by the
        # scale, the ONNX spec (and its reference, and the backend test
        # test_resize_downsample_scales_linear_align_corners) by
        # (in - 1) / (out - 1); we follow the spec.
        from onnx.reference import ReferenceEvaluator
        spec = f"y_{COORD_MODES.index('align_corners')}_2_0"
        model = make_model(nodes, [vi("x", list(x.shape))], [vi(o) for o in outs],
                           inits, opset=13)
        expected = ReferenceEvaluator(model).run([spec], {"x": x})[0]
        np.testing.assert_allclose(ours.pop(spec), expected, rtol=1e-5,
                                   atol=1e-5)
        ref.pop(spec)
    check(ours, ref, rtol=1e-5, atol=1e-5)


def test_resize_opset_variants(tmp_path, build_dir):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 1, 3, 5)).astype(np.float32)
    v = rng.normal(size=(2, 5, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Resize", ["x", "", "", "sz"], ["sym_n"],
                         coordinate_transformation_mode="half_pixel_symmetric"),
        helper.make_node("Resize", ["x", "", "", "sz"], ["sym_l"],
                         mode="linear",
                         coordinate_transformation_mode="half_pixel_symmetric"),
        # axes (opset 18): only the last two dims of a 3-D input
        helper.make_node("Resize", ["v", "", "sc2"], ["ax"], axes=[1, 2],
                         nearest_mode="floor"),
    ]
    inits = [init("sz", np.array([1, 1, 4, 7], np.int64)),
             init("sc2", np.array([1.5, 2.0], np.float32))]
    ours, ref = run(nodes, None, ["sym_n", "sym_l", "ax"], inits,
                    {"x": x, "v": v}, tmp_path, build_dir, opset=19)
    check(ours, ref)


def test_resize_opset10(tmp_path, build_dir):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 2, 3, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Resize", ["x", "up"], ["n"], mode="nearest"),
        helper.make_node("Resize", ["x", "up"], ["l"], mode="linear"),
        helper.make_node("Resize", ["x", "down"], ["nd"], mode="nearest"),
    ]
    inits = [init("up", np.array([1, 1, 2, 1.5], np.float32)),
             init("down", np.array([1, 1, 0.6, 0.5], np.float32))]
    ours, ref = run(nodes, None, ["n", "l", "nd"], inits, {"x": x}, tmp_path,
                    build_dir, opset=10)
    check(ours, ref)


def test_nonzero_constant(tmp_path, build_dir):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    c = np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)
    nodes = [
        helper.make_node("NonZero", ["c"], ["nz"]),
        cast("nz", "nzf", F),
        helper.make_node("NonZero", ["cb"], ["nzb"]),
        cast("nzb", "nzbf", F),
        helper.make_node("GatherND", ["x", "nzt"], ["sel"]),
    ]
    nzt = np.array(np.nonzero(c)).T.astype(np.int64)
    inits = [init("c", c),
             init("cb", np.array([True, False, True, True])),
             init("nzt", nzt)]
    ours, ref = run(nodes, None, ["nzf", "nzbf", "sel"], inits, {"x": x},
                    tmp_path, build_dir)
    check(ours, ref)
