"""quant_opt.compile: quant-compile's driver in process (one options
struct), checked against onnxruntime and against quant-compile itself."""

import json
import os
import threading

import numpy as np
import onnx
import pytest

import quant_opt
from qopt_testutil import mlp_model, onnxruntime_run, quant_compile


def samples(n, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((batch, 16)).astype(np.float32)}
            for _ in range(n)]


@pytest.fixture(scope="module")
def model():
    return mlp_model(hidden=64, seed=3)


def sqnr_db(ref, got):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2)
                         / np.sum((ref.astype(np.float64) - got) ** 2))


def test_float_compile_matches_onnxruntime(model, tmp_path):
    """Path, bytes and ModelProto give the same artifact behaviour."""
    onnx.save(model, tmp_path / "m.onnx")
    x = samples(1, batch=5, seed=9)[0]
    ref = onnxruntime_run(model, x)["y"]
    for source in (tmp_path / "m.onnx", str(tmp_path / "m.onnx"),
                   model.SerializeToString(), model):
        art = quant_opt.compile(source)
        assert art.report is None
        np.testing.assert_allclose(art(**x)["y"], ref, rtol=1e-5, atol=1e-5)


def test_ptq_from_numpy_samples(model, tmp_path):
    """w8a8 calibrated on in-memory samples: close to onnxruntime's float
    output (SQNR well above what a wrong scale gives), equal to quant-compile
    on the same samples written as a folder."""
    calib = samples(16)
    art = quant_opt.compile(model, quantize="w8a8", calibration=calib,
                            calibration_method="minmax")
    x = samples(1, batch=8, seed=42)[0]
    ref = onnxruntime_run(model, x)["y"]
    got = art(**x)["y"]
    assert sqnr_db(ref, got) > 25, sqnr_db(ref, got)
    assert not np.allclose(got, ref, rtol=1e-6, atol=1e-7)  # really quantized

    # The same samples through the command line: identical results.
    folder = tmp_path / "calib"
    from quant_opt._compile import write_samples
    write_samples(calib, str(folder), progress=False)
    onnx.save(model, tmp_path / "m.onnx")
    from conftest import ROOT  # noqa: F401
    build = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
    cli = quantize_cli = quant_compile(build, tmp_path / "m.onnx", tmp_path / "cli.so",
                                       "--quantize=w8a8", f"--calibration-data={folder}")
    np.testing.assert_array_equal(quant_opt.load(cli)(**x)["y"], got)
    del quantize_cli


def test_report_contents(model):
    art = quant_opt.compile(model, quantize="w8", calibration=samples(4),
                            report_latency_runs=3)
    rep = art.report
    assert rep["scheme"] == "w8"
    names = [layer["name"] for layer in rep["layers"]]
    assert names == ["w1", "w2"]
    for layer in rep["layers"]:
        assert layer["op"] == "qopt.linear"
        assert layer["weight_bytes_quantized"] < layer["weight_bytes_float"]
        assert np.isfinite(layer["sqnr_db_calibration"])
        assert layer["sqnr_db_calibration"] > 20
    assert rep["weight_bytes"]["quantized"] < rep["weight_bytes"]["float"]
    out = rep["outputs"]["calibration"]["y"]
    assert out["sqnr_db"] > 20 and 0.99 < out["cosine"] <= 1.0
    assert out["elements"] == 4 * 4 * 8  # 4 samples of [4, 8]
    assert set(rep["latency_ms"]) >= {"float", "quantized"}
    json.dumps(rep)  # plain JSON types
    # No report when not asked for or without samples; asking for one
    # without samples is quant-compile's error.
    assert quant_opt.compile(model, quantize="w8", calibration=samples(2),
                             report=False).report is None
    assert quant_opt.compile(model, quantize="w8").report is None
    with pytest.raises(quant_opt.CompileError, match="the report needs samples"):
        quant_opt.compile(model, quantize="w8", report=True)


def test_options_by_flag_name(model):
    """Any quant-compile flag works as a keyword (underscores for dashes)."""
    art = quant_opt.compile(model, quantize="w4", group_size=16,
                            exclude="w2", threads=2, O=2, cpu="x86-64-v3",
                            calibration=samples(2), report_latency_runs=0)
    layers = {l["name"]: l for l in art.report["layers"]}
    assert "int4" in layers["w1"]["quantized_as"]
    assert layers["w2"]["quantized_as"] == "float"
    x = samples(1, seed=5)[0]
    ref = onnxruntime_run(model, x)["y"]
    assert sqnr_db(ref, art(**x)["y"]) > 15
    keys = quant_opt.option_keys()
    assert {"quantize", "calibration-data", "group-size", "adapter"} <= set(keys)


def test_output_path_and_save(model, tmp_path):
    art = quant_opt.compile(model, output=tmp_path / "out.so")
    assert os.path.exists(tmp_path / "out.so") and art.path == str(tmp_path / "out.so")
    art2 = quant_opt.compile(model)
    owned = os.path.dirname(art2.path)
    art2.save(tmp_path / "kept.so")
    del art2
    import gc
    gc.collect()
    assert not os.path.exists(owned)  # the temporary folder went with it
    x = samples(1)[0]
    np.testing.assert_array_equal(quant_opt.load(tmp_path / "kept.so")(**x)["y"],
                                  art(**x)["y"])


def test_compile_errors_carry_quant_compile_messages(model, tmp_path):
    with pytest.raises(quant_opt.CompileError, match="needs --calibration-data"):
        quant_opt.compile(model, quantize="w8a8")
    with pytest.raises(quant_opt.CompileError, match="'w9' is not one of: w8a8"):
        quant_opt.compile(model, quantize="w9")
    with pytest.raises(quant_opt.CompileError, match="unknown option 'no-such-flag'"):
        quant_opt.compile(model, no_such_flag=1)
    with pytest.raises(quant_opt.CompileError, match="unknown CPU 'pentium9'"):
        quant_opt.compile(model, cpu="pentium9")
    with pytest.raises(quant_opt.CompileError, match="no model file"):
        quant_opt.compile(tmp_path / "missing.onnx")
    with pytest.raises(quant_opt.CompileError, match="no samples"):
        quant_opt.compile(model, quantize="w8a8", calibration=[])
    with pytest.raises(quant_opt.CompileError, match="float64"):
        quant_opt.compile(model, quantize="w8a8",
                          calibration=[{"x": np.ones((2, 16))}])
    with pytest.raises(TypeError):
        quant_opt.compile(12345)
    # A broken model: the error names the ONNX node, as quant-compile does.
    bad = mlp_model()
    bad.graph.node[2].op_type = "NoSuchOp"
    with pytest.raises(quant_opt.CompileError, match="/relu.*NoSuchOp"):
        quant_opt.compile(bad.SerializeToString())
    with pytest.raises(quant_opt.CompileError):
        quant_opt.compile(b"\x08\x07garbage")


def test_compiles_from_threads(model):
    """compile() releases the GIL; concurrent calls are serialized safely."""
    results, errors = {}, []

    def work(i):
        try:
            results[i] = quant_opt.compile(model, quantize="w8")
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    x = samples(1)[0]
    outs = [results[i](**x)["y"] for i in range(3)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_calibration_progress_and_interrupt(model):
    """The progress hook sees every calibration sample; returning False, an
    exception in it, or Ctrl-C (simulated with _thread.interrupt_main) stops
    the compilation cleanly, and the next one works."""
    seen = []
    quant_opt.compile(model, quantize="w8a8", calibration=samples(5),
                      report=False, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 5) for i in range(1, 6)]

    with pytest.raises(quant_opt.CompileError,
                       match="calibration interrupted after 2 of 5 samples"):
        quant_opt.compile(model, quantize="w8a8", calibration=samples(5),
                          report=False, progress=lambda d, t: d < 2)

    class Stop(Exception):
        pass

    def boom(done, total):
        raise Stop(done)
    with pytest.raises(Stop):
        quant_opt.compile(model, quantize="w8a8", calibration=samples(3),
                          progress=boom)

    import _thread
    import tempfile
    before = set(os.listdir(tempfile.gettempdir()))
    calls = []

    def ctrl_c(done, total):
        calls.append(done)
        if done == 1:
            _thread.interrupt_main()  # as if SIGINT arrived now
    with pytest.raises(KeyboardInterrupt):
        quant_opt.compile(model, quantize="w8a8", calibration=samples(6),
                          progress=ctrl_c)
    assert calls == [1]  # stopped at the next sample
    leftovers = {p for p in set(os.listdir(tempfile.gettempdir())) - before
                 if p.startswith("quant_opt-")}
    assert not leftovers
    art = quant_opt.compile(model, quantize="w8a8", calibration=samples(2))
    assert art.report is not None


def test_nvptx_artifact(model):
    """--target=nvptx through compile(): a GPU artifact. Without a CUDA
    driver or device, running it raises RunError (the mgpu* calls compiled
    code makes cannot report errors: no garbage comes back); with one, it
    matches onnxruntime."""
    art = quant_opt.compile(model, target="nvptx", gpu_arch="sm_90", cubin="never")
    assert art.target != "cpu"
    x = samples(1, batch=2)[0]
    from quant_opt import _runtime  # noqa: F401
    import ctypes
    rt = ctypes.CDLL(quant_opt._runtime.runtime_path())
    if not rt.qopt_cuda_available():
        with pytest.raises(quant_opt.RunError, match="CUDA"):
            art(**x)
        with pytest.raises(quant_opt.RunError, match="CUDA"):
            art.benchmark(x, runs=1)
    else:
        np.testing.assert_allclose(art(**x)["y"], onnxruntime_run(model, x)["y"],
                                   rtol=1e-3, atol=1e-3)
    with pytest.raises(quant_opt.CompileError, match="sm_75"):
        quant_opt.compile(model, target="nvptx", gpu_arch="sm_75")


def test_prune_ternary_and_qdq_export_options(model, tmp_path):
    """main's newer quant-compile options reach compile() by name."""
    x = samples(1, seed=11)[0]
    ref = onnxruntime_run(model, x)["y"]
    pruned = quant_opt.compile(model, prune="2:4", calibration=samples(2))
    assert pruned.report is not None
    got = pruned(**x)["y"]
    assert not np.allclose(got, ref, atol=1e-4)  # half the weights are gone
    assert sqnr_db(ref, got) > 3
    tern = quant_opt.compile(model, quantize="ternary", ternary_mode="absmean")
    assert np.all(np.isfinite(tern(**x)["y"]))
    with pytest.raises(quant_opt.CompileError, match="--ternary-mode is for"):
        quant_opt.compile(model, quantize="w8", ternary_mode="absmean")
    with pytest.raises(quant_opt.CompileError, match="need --prune"):
        quant_opt.compile(model, shrink_structured=True)
    with pytest.raises(quant_opt.CompileError, match="not a compile\\(\\) option"):
        quant_opt.compile(model, emit="onnx")
