"""Col2Im, ReverseSequence, AffineGrid and CenterCropPad end to end against
onnxruntime on random data (Ops/Spatial.cpp); the shape parameters are
constants (initializers), the data inputs graph inputs. The 3-D Col2Im with
strides, pads and dilations is checked against the ONNX reference evaluator:
onnxruntime 1.2x differs from it there (max error 6.8 on this case), while
the 2-D cases agree with both."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from test_grid_sample import run_ours


def check(build_dir, tmp, node, inputs, inits, out_shape, opset,
          reference=False):
    graph = h.make_graph(
        [node], "g",
        [h.make_tensor_value_info(k, T.FLOAT if v.dtype == np.float32
                                  else T.INT64, v.shape)
         for k, v in inputs.items()],
        [h.make_tensor_value_info("y", T.FLOAT, out_shape)],
        [nh.from_array(v, k) for k, v in inits.items()])
    path = os.path.join(tmp, "m.onnx")
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", opset)]),
              path)
    if reference:
        from onnx.reference import ReferenceEvaluator
        want = ReferenceEvaluator(path).run(None, inputs)[0]
    else:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        want = sess.run(None, inputs)[0]
    got = run_ours(build_dir, path, inputs, tmp)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("image,block,strides,pads,dil", [
    ([5, 6], [2, 3], [1, 1], [0, 0, 0, 0], [1, 1]),
    ([7, 8], [3, 2], [2, 3], [1, 2, 0, 1], [1, 2]),
    ([4, 5, 6], [2, 2, 3], [1, 2, 1], [0, 1, 1, 0, 0, 1], [1, 1, 2]),
])
def test_col2im(build_dir, tmp_path, image, block, strides, pads, dil):
    k = len(image)
    blocks = 1
    for i in range(k):
        span = dil[i] * (block[i] - 1) + 1
        blocks *= (image[i] + pads[i] + pads[k + i] - span) // strides[i] + 1
    c = 2
    x = np.random.default_rng(k).standard_normal(
        (2, c * int(np.prod(block)), blocks)).astype(np.float32)
    node = h.make_node("Col2Im", ["x", "image", "block"], ["y"],
                       strides=strides, pads=pads, dilations=dil)
    check(build_dir, tmp_path, node, {"x": x},
          {"image": np.array(image, np.int64),
           "block": np.array(block, np.int64)}, [2, c, *image], 18,
          reference=k == 3)


@pytest.mark.parametrize("batch_axis,time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence(build_dir, tmp_path, batch_axis, time_axis):
    rng = np.random.default_rng(3)
    shape = [5, 4, 3] if time_axis == 0 else [4, 5, 3]
    x = rng.standard_normal(shape).astype(np.float32)
    lens = np.array([5, 1, 3, 4], np.int64)
    node = h.make_node("ReverseSequence", ["x", "lens"], ["y"],
                       batch_axis=batch_axis, time_axis=time_axis)
    check(build_dir, tmp_path, node, {"x": x, "lens": lens}, {}, shape, 17)


@pytest.mark.parametrize("size,align", [([2, 3, 4, 5], 0), ([2, 3, 4, 5], 1),
                                        ([1, 2, 3, 4, 5], 0)])
def test_affine_grid(build_dir, tmp_path, size, align):
    k = len(size) - 2
    theta = np.random.default_rng(k).standard_normal(
        (size[0], k, k + 1)).astype(np.float32)
    node = h.make_node("AffineGrid", ["theta", "size"], ["y"],
                       align_corners=align)
    check(build_dir, tmp_path, node, {"theta": theta},
          {"size": np.array(size, np.int64)}, [size[0], *size[2:], k], 20)


def test_center_crop_pad(build_dir, tmp_path):
    x = np.random.default_rng(5).standard_normal((5, 6, 3)).astype(np.float32)
    node = h.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[0, 1])
    check(build_dir, tmp_path, node, {"x": x},
          {"shape": np.array([2, 9], np.int64)}, [2, 9, 3], 18)


@pytest.mark.parametrize("ctm,mode", [("half_pixel", "avg"),
                                      ("output_half_pixel", "avg"),
                                      ("half_pixel", "max")])
def test_roi_align(build_dir, tmp_path, ctm, mode):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    rois = np.array([[0, 0, 8, 6], [1.5, 2.2, 10.7, 8.9], [-2, -1, 4, 3],
                     [3, 3, 3.5, 3.2]], np.float32)
    batch = np.array([0, 1, 1, 0], np.int64)
    node = h.make_node("RoiAlign", ["x", "rois", "batch"], ["y"],
                       coordinate_transformation_mode=ctm, mode=mode,
                       output_height=3, output_width=4, sampling_ratio=2,
                       spatial_scale=0.9)
    check(build_dir, tmp_path, node, {"x": x, "rois": rois, "batch": batch},
          {}, [4, 3, 3, 4], 16)


def test_max_unpool_of_max_pool_indices(build_dir, tmp_path):
    """MaxUnpool of MaxPool's values and indices (computed by onnxruntime,
    fed as inputs) against onnxruntime's MaxUnpool."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    pool = h.make_graph(
        [h.make_node("MaxPool", ["x"], ["v", "i"], kernel_shape=[2, 2],
                     strides=[2, 2])], "p",
        [h.make_tensor_value_info("x", T.FLOAT, x.shape)],
        [h.make_tensor_value_info("v", T.FLOAT, None),
         h.make_tensor_value_info("i", T.INT64, None)])
    path = os.path.join(tmp_path, "pool.onnx")
    onnx.save(h.make_model(pool, opset_imports=[h.make_opsetid("", 12)]), path)
    v, i = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    node = h.make_node("MaxUnpool", ["v", "i", "shape"], ["y"],
                       kernel_shape=[2, 2], strides=[2, 2])
    check(build_dir, tmp_path, node, {"v": v, "i": i},
          {"shape": np.array([2, 3, 6, 8], np.int64)}, [2, 3, 6, 8], 11)
    # A larger output_shape: the ONNX reference (and the backend test) keeps
    # the indices on the inferred 6x8 layout in the leading corner, where
    # onnxruntime re-reads them on the 7x9 layout.
    check(build_dir, tmp_path, node, {"v": v, "i": i},
          {"shape": np.array([2, 3, 7, 9], np.int64)}, [2, 3, 7, 9], 11,
          reference=True)
