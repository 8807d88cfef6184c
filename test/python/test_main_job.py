"""The README's main job and the sample folders it reads: the examples run
twice in a row and after their data is removed, stray entries in sample
folders (an out/ folder, notes, a misspelt tensor file) are skipped or
refused with a clear message by the examples and by quant-compile."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import make_examples
import sample_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def add_strays(data_dir):
    """What users and earlier versions leave in data folders."""
    with open(os.path.join(data_dir, "README.txt"), "w") as f:
        f.write("notes\n")
    for s in sample_data.list_samples(data_dir):
        os.makedirs(os.path.join(s, "out"), exist_ok=True)
        np.save(os.path.join(s, "out", "output.npy"), np.zeros(3, np.float32))
        with open(os.path.join(s, "notes.txt"), "w") as f:
            f.write("x\n")


# ---------------------------------------------------------------------------
# examples/sample_data.py
# ---------------------------------------------------------------------------

def test_sample_inputs_skip_strays(tmp_path):
    make_examples.write_model(str(tmp_path), "mlp", calib=2, eval_=2)
    eval_dir = tmp_path / "mlp" / "eval"
    add_strays(str(eval_dir))
    samples = sample_data.list_samples(str(eval_dir))
    assert [os.path.basename(s) for s in samples] == ["sample_000",
                                                     "sample_001"]
    for s in samples:
        assert list(sample_data.sample_inputs(s)) == ["input"]
        assert sample_data.load_inputs(s)["input"].shape == (8, 256)


def test_sample_inputs_errors(tmp_path):
    with pytest.raises(sample_data.SampleError, match="holds no sample"):
        sample_data.list_samples(str(tmp_path))
    with pytest.raises(sample_data.SampleError, match="cannot read"):
        sample_data.list_samples(str(tmp_path / "missing"))
    s = tmp_path / "sample_000"
    s.mkdir()
    with pytest.raises(sample_data.SampleError, match="no .npy or .pb"):
        sample_data.sample_inputs(str(s))
    np.save(s / "x.npy", np.zeros(2, np.float32))
    from onnx import numpy_helper
    (s / "x.pb").write_bytes(
        numpy_helper.from_array(np.zeros(2, np.float32)).SerializeToString())
    with pytest.raises(sample_data.SampleError, match="'x' is given twice"):
        sample_data.sample_inputs(str(s))
    os.remove(s / "x.npy")
    assert sample_data.load_inputs(str(s))["x"].tolist() == [0.0, 0.0]


def test_rewriting_samples_leaves_exactly_the_count(tmp_path):
    make_examples.write_model(str(tmp_path), "mlp", calib=12, eval_=3)
    add_strays(str(tmp_path / "mlp" / "calibration"))
    make_examples.write_model(str(tmp_path), "mlp", calib=4, eval_=3)
    calib = tmp_path / "mlp" / "calibration"
    assert sorted(p.name for p in calib.iterdir() if p.is_dir()) == \
        [f"sample_{i:03d}" for i in range(4)]
    for s in sample_data.list_samples(str(calib)):
        assert os.listdir(s) == ["input.npy"]


# ---------------------------------------------------------------------------
# quant-compile reading calibration / eval folders
# ---------------------------------------------------------------------------

def quant_compile(build_dir, *args):
    return subprocess.run([os.path.join(build_dir, "bin", "quant-compile"),
                           *map(str, args)], capture_output=True, text=True)


def test_quant_compile_skips_stray_entries(build_dir, tmp_path):
    make_examples.write_model(str(tmp_path), "mlp", calib=3, eval_=2)
    d = tmp_path / "mlp"
    for split in ("calibration", "eval"):
        add_strays(str(d / split))
    r = quant_compile(build_dir, d / "model.onnx", "--quantize=w8a8",
                      f"--calibration-data={d / 'calibration'}",
                      f"--eval-data={d / 'eval'}",
                      f"--report={tmp_path / 'r.json'}",
                      "-o", tmp_path / "m.so")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.so").exists()


@pytest.mark.parametrize("flag", ["calibration-data", "eval-data"])
def test_quant_compile_refuses_unknown_tensor_file(build_dir, tmp_path, flag):
    make_examples.write_model(str(tmp_path), "mlp", calib=2, eval_=2)
    d = tmp_path / "mlp"
    data = d / ("calibration" if flag == "calibration-data" else "eval")
    np.save(data / "sample_001" / "inptu.npy", np.zeros((4, 256), np.float32))
    extra = [] if flag == "calibration-data" else [
        f"--calibration-data={d / 'calibration'}",
        f"--report={tmp_path / 'r.json'}"]
    r = quant_compile(build_dir, d / "model.onnx", "--quantize=w8a8",
                      f"--{flag}={data}", *extra, "-o", tmp_path / "m.so")
    assert r.returncode != 0
    assert "'sample_001': file 'inptu.npy' names no input of the model" \
        in r.stderr, r.stderr
    assert "input" in r.stderr.split("expected signature", 1)[1]
    assert not (tmp_path / "m.so").exists()


def test_quant_compile_refuses_input_given_twice(build_dir, tmp_path):
    from onnx import numpy_helper
    make_examples.write_model(str(tmp_path), "mlp", calib=2, eval_=1)
    d = tmp_path / "mlp"
    s = d / "calibration" / "sample_000"
    (s / "input.pb").write_bytes(numpy_helper.from_array(
        np.load(s / "input.npy")).SerializeToString())
    r = quant_compile(build_dir, d / "model.onnx", "--quantize=w8a8",
                      f"--calibration-data={d / 'calibration'}",
                      "-o", tmp_path / "m.so")
    assert r.returncode != 0
    assert "input 'input' is given twice (input.npy and input.pb)" \
        in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# The examples of the main job
# ---------------------------------------------------------------------------

def run_example(script, build_dir, work, *extra):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script),
                           "--build-dir", build_dir, "--work-dir", str(work),
                           "--threads", "1", *extra],
                          capture_output=True, text=True)


def test_main_job_runs_twice_and_after_clean(build_dir, tmp_path):
    work = tmp_path / "examples-data"
    for attempt in ("cold", "warm", "warm with strays", "after clean"):
        if attempt == "warm with strays":
            for split in ("calibration", "eval"):
                add_strays(str(work / "transformer" / split))
        if attempt == "after clean":
            shutil.rmtree(work)
        r = run_example("run_example.py", build_dir, work)
        assert r.returncode == 0, (attempt, r.stdout, r.stderr)
        assert "result: matches onnxruntime" in r.stdout
        r = run_example("run_ptq_example.py", build_dir, work,
                        "--calibration-samples", "8")
        assert r.returncode == 0, (attempt, r.stdout, r.stderr)
        verdict = r.stdout.strip().splitlines()[-1]
        assert verdict.startswith("PASS: transformer quantized w8a8: weights "), \
            verdict
        assert "x smaller, SQNR " in verdict and "speed-up" in verdict
        # Outputs are written beside the data folders, never inside them.
        for split in ("calibration", "eval"):
            for s in sample_data.list_samples(str(work / "transformer" /
                                                  split)):
                assert sorted(os.listdir(s)) in (
                    ["hidden_states.npy"],
                    ["hidden_states.npy", "notes.txt", "out"]), s
        assert (work / "transformer" / "outputs" / "model.w8a8" /
                "sample_000" / "output.npy").exists()


def test_run_main_reports_errors_without_traceback(capsys):
    def bad_sample():
        raise sample_data.SampleError("sample 'x' holds no .npy or .pb input "
                                      "file")

    def failing_tool():
        subprocess.run([sys.executable, "-c",
                        "import sys; sys.stderr.write('boom'); sys.exit(3)"],
                       check=True, capture_output=True, text=True)

    assert sample_data.run_main(bad_sample) == 1
    err = capsys.readouterr().err
    assert err == "error: sample 'x' holds no .npy or .pb input file\n"
    assert sample_data.run_main(failing_tool) == 1
    err = capsys.readouterr().err
    assert "exited with status 3" in err and "boom" in err
    assert "Traceback" not in err
    assert sample_data.run_main(lambda: 0) == 0
