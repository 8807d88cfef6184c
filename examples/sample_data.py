"""Sample folders, read the way quant-compile reads them.

A data directory (``--calibration-data``, ``--eval-data``) holds one folder
per sample, taken in name order; a sample folder holds one
``<input name>.npy`` or ``<input name>.pb`` (ONNX TensorProto) per model
input. Anything else is not a sample: files beside the sample folders and
entries of a sample folder that are neither ``.npy`` nor ``.pb`` (an
``out/`` folder, a README) are skipped. Outputs are never written inside a
data directory: the examples and benchmarks write them to a folder of their
own (``outputs_dir``).
"""

import os

import numpy as np

INPUT_SUFFIXES = (".npy", ".pb")


class SampleError(ValueError):
    """A data directory or sample folder that cannot be used."""


def list_samples(directory):
    """The sample folders of DIRECTORY, in name order (files skipped)."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError as e:
        raise SampleError(f"cannot read the data directory '{directory}': "
                          f"{e.strerror}") from None
    samples = [os.path.join(directory, e) for e in entries
               if os.path.isdir(os.path.join(directory, e))]
    if not samples:
        raise SampleError(
            f"the data directory '{directory}' holds no sample folders (one "
            "folder per sample, with one <input name>.npy or .pb per model "
            "input)")
    return samples


def sample_inputs(sample_dir):
    """{input name: file} of one sample folder: its .npy/.pb files only."""
    inputs = {}
    for entry in sorted(os.listdir(sample_dir)):
        path = os.path.join(sample_dir, entry)
        stem, ext = os.path.splitext(entry)
        if ext not in INPUT_SUFFIXES or not os.path.isfile(path):
            continue
        if not stem:
            raise SampleError(f"sample '{sample_dir}': '{entry}' names no "
                              "input")
        if stem in inputs:
            raise SampleError(
                f"sample '{sample_dir}': input '{stem}' is given twice "
                f"({os.path.basename(inputs[stem])} and {entry})")
        inputs[stem] = path
    if not inputs:
        raise SampleError(f"sample '{sample_dir}' holds no .npy or .pb input "
                          "file")
    return inputs


def load_tensor(path):
    """A .npy or ONNX TensorProto .pb file as a numpy array."""
    if path.endswith(".pb"):
        import onnx
        from onnx import numpy_helper
        t = onnx.TensorProto()
        with open(path, "rb") as f:
            t.ParseFromString(f.read())
        return numpy_helper.to_array(t)
    return np.load(path, allow_pickle=False)


def load_inputs(sample_dir):
    """{input name: array} of one sample folder."""
    return {n: load_tensor(p) for n, p in sample_inputs(sample_dir).items()}


def quant_run_inputs(inputs):
    """quant-run's --input flags for {input name: file}."""
    args = []
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    return args


def outputs_dir(model_dir, artifact, sample_dir):
    """Where an example writes ARTIFACT's outputs for one sample: beside the
    data directories, never inside one."""
    stem = os.path.splitext(os.path.basename(artifact))[0]
    return os.path.join(model_dir, "outputs", stem,
                        os.path.basename(os.path.normpath(sample_dir)))


def run_main(main):
    """Runs an example's main(): a bad data folder or a failing tool ends
    with its message and exit status 1, not a traceback."""
    import subprocess
    import sys
    try:
        return main()
    except SampleError as e:
        print(f"error: {e}", file=sys.stderr)
    except subprocess.CalledProcessError as e:
        print(f"error: {os.path.basename(e.cmd[0])} exited with status "
              f"{e.returncode}: {' '.join(map(str, e.cmd))}", file=sys.stderr)
        for stream in (e.stdout, e.stderr):
            if stream:
                text = stream if isinstance(stream, str) else stream.decode(
                    errors="replace")
                print(text.rstrip(), file=sys.stderr)
    return 1
