#!/usr/bin/env python3
"""ONNX backend conformance runner for quant-opt.

Compiles every model of the ONNX backend test data with `quant-compile`,
runs each of its data sets with `quant-run` and compares the outputs with
the expected ones the way onnx.backend.test does (rtol=1e-3, atol=1e-7
unless the test's data.json says otherwise; shapes, dtypes and NaN positions
must match). A compile that fails because the importer needs a graph input
to be a constant (a parameter such as ReduceSum's axes fed as an input) is
retried with exactly that input frozen to the data set's value
(quant-compile --freeze-input); the test records "frozen_inputs". See
docs/Conformance.md.

    run_conformance.py --build-dir build [--suites node,simple] [--filter RE]
        [--subset N | --subset-file FILE] [--timeout-per-test 60] [--jobs 2]
        [--output conformance.json] [--update-docs] [--backend ours|onnxruntime]

Suites (each the union of two sources, the newer one first):
  * the onnx Python package (onnx/backend/test/data/<suite>; the package's
    node tests are generated once from onnx.backend.test.case.node into
    BUILD/conformance/onnx-node-data-<version>, since recent onnx wheels
    ship them as Python code instead of files), and
  * Debian's libonnx-testdata (/usr/share/libonnx-testdata/data/<suite>),
    for the test names the package does not have. Its copies of the other
    tests (older opsets) run with --all-sources or as NAME@debian in a
    --subset-file.
"""

import argparse
import concurrent.futures
import datetime
import glob
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ALL_SUITES = ["node", "pytorch-converted", "pytorch-operator", "simple"]
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7
DEBIAN_DATA = "/usr/share/libonnx-testdata/data"
ONNX_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test",
                         "data")


# --------------------------------------------------------------------------
# Errors a backend raises.

class CompileError(Exception):
    """The model did not compile: the test is 'unsupported'."""


class BackendFailure(Exception):
    """A step failed in a way that makes the test 'fail' (crash, run error,
    missing output, timeout)."""


class StepTimeout(BackendFailure):
    def __init__(self, step, seconds):
        super().__init__(f"timeout: {step} ran longer than {seconds:g}s")


def sanitize(name):
    """The file name (less .npy) quant-run writes an output under."""
    out = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" + out if out in ("", ".", "..") else out


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_error_line(text, fallback=0):
    """The first line saying 'error:' (the tools' diagnostics), else line
    `fallback` (0: the first, -1: the last)."""
    lines = [l.strip() for l in ANSI.sub("", text).splitlines() if l.strip()]
    for l in lines:
        if "error:" in l.lower():
            return l
    return lines[fallback] if lines else ""


def crash_message(tool, rc, stderr):
    line = first_error_line(stderr, -1)
    return f"{tool} crashed ({signal_name(rc)})" + (f": {line}" if line else "")


def signal_name(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def pin_value(shape):
    """--pin-shape's value: DxD for a tensor's shape, or a sequence's or
    optional's form (seq:N, none) as a string."""
    return shape if isinstance(shape, str) else "x".join(map(str, shape))


def element_name(name, k):
    """The artifact's name of element k of sequence input/output `name`
    (docs/Import/Sequences.md)."""
    return f"{name}[{k}]"


def run_step(cmd, timeout, step):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              errors="replace", timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StepTimeout(step, timeout)


def read_output_files(out_dir, names):
    """{name: array} from DIR/<sanitized name>.npy (as quant-run writes;
    a .pb TensorProto there is read too)."""
    got = {}
    for name in names:
        base = os.path.join(out_dir, sanitize(name))
        path = next((base + ext for ext in (".npy", ".pb")
                     if os.path.exists(base + ext)), None)
        if path is None:
            raise BackendFailure(f"no output file {sanitize(name)}.npy for "
                                 f"output '{name}'")
        try:
            got[name] = (np.load(path, allow_pickle=False)
                         if path.endswith(".npy") else load_value(path))
        except Exception as e:  # noqa: BLE001
            raise BackendFailure(f"cannot read {path}: {e}")
    return got


# --------------------------------------------------------------------------
# Backends: compile(model_path, out_dir, pins, frozen) -> artifact;
#           run(artifact, inputs {name: path}, out_dir) -> {name: value}.
# pins: {input name: shape}; frozen: {input name: .pb/.npy path}, graph
# inputs that become constants with that value (and leave the artifact's
# inputs: run() is not given them). can_freeze: whether compile() takes
# frozen inputs.

class OursBackend:
    """quant-compile + quant-run from BUILD/bin."""

    name = "ours"

    def __init__(self, build_dir, timeout):
        self.compiler = os.path.join(build_dir, "bin", "quant-compile")
        self.runner = os.path.join(build_dir, "bin", "quant-run")
        self.timeout = timeout

    def check(self):
        missing = [p for p in (self.compiler, self.runner)
                   if not os.access(p, os.X_OK)]
        if missing:
            return "not built: " + ", ".join(missing)
        return None

    @property
    def can_freeze(self):
        """Whether this quant-compile has --freeze-input (asked once)."""
        if not hasattr(self, "_can_freeze"):
            try:
                r = subprocess.run([self.compiler, "--help"],
                                   capture_output=True, text=True,
                                   errors="replace", timeout=60,
                                   stdin=subprocess.DEVNULL)
                self._can_freeze = "--freeze-input" in r.stdout + r.stderr
            except Exception:  # noqa: BLE001
                self._can_freeze = False
        return self._can_freeze

    def compile(self, model_path, out_dir, pins, frozen=None):
        artifact = os.path.join(out_dir, "model.so")
        cmd = [self.compiler, model_path, "-o", artifact, "--target=cpu"]
        for name, shape in pins.items():
            cmd += ["--pin-shape", name + "=" + pin_value(shape)]
        for name, path in (frozen or {}).items():
            cmd += ["--freeze-input", f"{name}={path}"]
        r = run_step(cmd, self.timeout, "quant-compile")
        if r.returncode < 0:
            raise BackendFailure(crash_message("quant-compile", r.returncode,
                                               r.stderr))
        if r.returncode != 0:
            raise CompileError(first_error_line(r.stderr) or
                               f"quant-compile exited {r.returncode}")
        if not os.path.exists(artifact):
            raise BackendFailure("quant-compile succeeded but wrote no "
                                 + artifact)
        return artifact

    def run(self, artifact, inputs, out_dir, output_names,
            output_kinds=None):
        cmd = [self.runner, artifact]
        for name, path in inputs.items():
            cmd += ["--input", f"{name}={path}"]
        cmd += ["--output-dir", out_dir]
        r = run_step(cmd, self.timeout, "quant-run")
        if r.returncode < 0:
            raise BackendFailure(crash_message("quant-run", r.returncode,
                                               r.stderr))
        if r.returncode != 0:
            raise BackendFailure(f"quant-run exited {r.returncode}: "
                                 + first_error_line(r.stderr, -1))
        if not output_kinds:
            return read_output_files(out_dir, output_names)
        # A sequence output is the artifact's outputs NAME[0], NAME[1], ...
        # (none for an empty one); an empty optional has no output.
        produced = set(re.findall(r"^output (.*?): ", r.stdout, re.M))
        got = read_output_files(out_dir, [n for n in output_names
                                          if output_kinds.get(n) is None])
        for name, kind in output_kinds.items():
            if kind is None:
                continue
            if name in produced:
                got.update(read_output_files(out_dir, [name]))
                continue
            elems = []
            while element_name(name, len(elems)) in produced:
                elems.append(element_name(name, len(elems)))
            if elems or kind == "sequence_type":
                vals = read_output_files(out_dir, elems)
                got[name] = [vals[e] for e in elems]
            else:
                got[name] = None
        return got


class NVPTXExportBackend(OursBackend):
    """Ours on the CPU (judged as usual), and every test also compiled with
    --target=nvptx and exported — artifact, inputs, the CPU outputs as the
    reference — in test/gpu/check_models.py's format, for a GPU machine."""

    name = "ours+nvptx-export"

    def __init__(self, build_dir, timeout, export_dir, gpu_arch):
        super().__init__(build_dir, timeout)
        self.export_dir = os.path.abspath(export_dir)
        self.gpu_arch = gpu_arch
        self.cases = []
        self.lock = threading.Lock()

    def compile(self, model_path, out_dir, pins, frozen=None):
        artifact = super().compile(model_path, out_dir, pins, frozen)
        gpu = os.path.join(out_dir, "model.gpu.so")
        cmd = [self.compiler, model_path, "-o", gpu, "--target=nvptx",
               f"--gpu-arch={self.gpu_arch}"]
        for name, shape in pins.items():
            cmd += ["--pin-shape", name + "=" + pin_value(shape)]
        for name, path in (frozen or {}).items():
            cmd += ["--freeze-input", f"{name}={path}"]
        r = run_step(cmd, self.timeout, "quant-compile --target=nvptx")
        self.gpu_error = None if r.returncode == 0 else first_error_line(r.stderr)
        return artifact

    def run(self, artifact, inputs, out_dir, output_names,
            output_kinds=None):
        outputs = super().run(artifact, inputs, out_dir, output_names,
                              output_kinds)
        gpu = os.path.join(os.path.dirname(artifact), "model.gpu.so")
        if not os.path.exists(gpu):
            return outputs
        with self.lock:
            index = len(self.cases)
            case = os.path.join(self.export_dir, f"case{index:04d}")
            self.cases.append(None)
        os.makedirs(os.path.join(case, "ref"), exist_ok=True)
        shutil.copy(gpu, os.path.join(case, "model.so"))
        names = {}
        for name, path in inputs.items():
            dst = os.path.join(case, sanitize(name) + os.path.splitext(path)[1])
            shutil.copy(path, dst)
            names[name] = os.path.relpath(dst, self.export_dir)
        for f in os.listdir(out_dir):
            if f.endswith(".npy") or f.endswith(".pb"):
                shutil.copy(os.path.join(out_dir, f), os.path.join(case, "ref", f))
        with self.lock:
            self.cases[index] = {
                "model": os.path.basename(os.path.dirname(os.path.dirname(out_dir))),
                "scheme": "float", "sample": os.path.basename(out_dir),
                "artifact": os.path.relpath(os.path.join(case, "model.so"),
                                            self.export_dir),
                "inputs": names,
                "reference": os.path.relpath(os.path.join(case, "ref"),
                                             self.export_dir)}
        return outputs

    def write_cases(self, results):
        # Only the tests that pass on the CPU are worth a GPU run (their CPU
        # outputs are the reference); the others' folders go.
        # (A case's "model" is its work folder, run_test's mkdtemp of the
        # test's name + "-" + 8 random characters.)
        passing = {re.sub(r"\W", "_", r["name"])[:60] for r in results
                   if r["status"] == "pass"}
        cases = []
        for c in self.cases:
            if not c:
                continue
            c["model"] = c["model"][:-9]
            if c["model"] in passing:
                cases.append(c)
            else:
                shutil.rmtree(os.path.join(self.export_dir,
                                           os.path.dirname(c["artifact"])),
                              ignore_errors=True)
        with open(os.path.join(self.export_dir, "cases.json"), "w") as f:
            json.dump(cases, f, indent=1)
        print(f"exported {len(cases)} GPU cases to {self.export_dir}")


class OnnxruntimeBackend:
    """Runs the model in onnxruntime: a self-check of the runner (data
    loading, pinning, file round trip of the outputs, comparison)."""

    name = "onnxruntime"
    can_freeze = True

    def __init__(self, build_dir, timeout):
        import onnxruntime  # noqa: F401,PLC0415
        self.timeout = timeout

    def check(self):
        return None

    def _session(self, model_path):
        import onnxruntime as ort  # noqa: PLC0415
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        return ort.InferenceSession(model_path, so,
                                    providers=["CPUExecutionProvider"])

    def _with_timeout(self, fn, step):
        box = {}

        def target():
            try:
                box["value"] = fn()
            except BaseException as e:  # noqa: BLE001
                box["error"] = e
        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(self.timeout)
        if t.is_alive():
            raise StepTimeout(step, self.timeout)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def compile(self, model_path, out_dir, pins, frozen=None):
        if frozen:
            model = freeze_inputs(onnx.load(model_path), frozen)
            model_path = os.path.join(out_dir, "model.onnx")
            onnx.save(model, model_path)
        try:
            self._with_timeout(lambda: self._session(model_path),
                               "onnxruntime session")
        except StepTimeout:
            raise
        except Exception as e:  # noqa: BLE001
            raise CompileError(first_error_line(str(e)) or repr(e))
        return model_path

    def run(self, artifact, inputs, out_dir, output_names,
            output_kinds=None):
        model = onnx.load(artifact, load_external_data=False)
        types = {i.name: i.type for i in model.graph.input}
        feeds = {n: load_value(p, types.get(n)) for n, p in inputs.items()}

        def go():
            sess = self._session(artifact)
            return dict(zip([o.name for o in sess.get_outputs()],
                            sess.run(None, feeds)))
        try:
            outs = self._with_timeout(go, "onnxruntime run")
        except StepTimeout:
            raise
        except Exception as e:  # noqa: BLE001
            raise BackendFailure("onnxruntime: " + first_error_line(str(e)))
        # Tensors go through DIR/<name>.npy like quant-run's outputs.
        got, tensors = {}, []
        for name in output_names:
            v = outs.get(name)
            if isinstance(v, np.ndarray) and v.dtype != object:
                np.save(os.path.join(out_dir, sanitize(name) + ".npy"), v)
                tensors.append(name)
            else:
                got[name] = v
        got.update(read_output_files(out_dir, tensors))
        return got


# --------------------------------------------------------------------------
# Test data.

def load_value(path, type_proto=None):
    """A value from an input_N.pb/output_N.pb (tensor, sequence or optional
    per the graph's type) or an .npy file."""
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    with open(path, "rb") as f:
        data = f.read()
    if type_proto is not None and type_proto.HasField("sequence_type"):
        p = onnx.SequenceProto()
        p.ParseFromString(data)
        return numpy_helper.to_list(p)
    if type_proto is not None and type_proto.HasField("optional_type"):
        p = onnx.OptionalProto()
        p.ParseFromString(data)
        return numpy_helper.to_optional(p)
    if type_proto is not None and type_proto.HasField("map_type"):
        p = onnx.MapProto()
        p.ParseFromString(data)
        return numpy_helper.to_dict(p)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def tensor_dims(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return list(t.dims)


def type_kind(tp):
    return tp.WhichOneof("value") or "none"


def tensor_like(tp):
    """A tensor, or a sequence or optional of tensors (or an optional
    sequence of tensors): what quant-compile and quant-run take."""
    kind = type_kind(tp)
    if kind == "tensor_type":
        return True
    if kind == "sequence_type":
        return type_kind(tp.sequence_type.elem_type) == "tensor_type"
    if kind == "optional_type":
        return tensor_like(tp.optional_type.elem_type) and \
            type_kind(tp.optional_type.elem_type) != "optional_type"
    return False


def form_pins(name, value):
    """--pin-shape values for a sequence or optional input holding
    `value`: NAME=seq:N and each element's shape, or NAME=none."""
    if value is None:
        return {name: "none"}
    if isinstance(value, list):
        pins = {name: f"seq:{len(value)}"}
        for k, e in enumerate(value):
            pins[element_name(name, k)] = list(np.asarray(e).shape)
        return pins
    return {name: list(np.asarray(value).shape)}


def model_ops(graph, acc=None):
    """Op types of a graph and its nested subgraphs, as 'Op' for ai.onnx and
    'domain.Op' otherwise."""
    acc = set() if acc is None else acc
    for node in graph.node:
        dom = node.domain
        acc.add(node.op_type if dom in ("", "ai.onnx") else
                f"{dom}.{node.op_type}")
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                model_ops(a.g, acc)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    model_ops(g, acc)
    return acc


class Test:
    def __init__(self, name, suite, source, path, shadowed=False):
        self.name, self.suite, self.source, self.dir = name, suite, source, path
        # "onnx" or "debian"; a shadowed test is a Debian one whose name the
        # onnx package also has (run only with --all-sources or by NAME@debian).
        self.origin = source.split("-", 1)[0]
        self.shadowed = shadowed
        self.rtol, self.atol = DEFAULT_RTOL, DEFAULT_ATOL
        dj = os.path.join(path, "data.json")
        if os.path.exists(dj):
            with open(dj) as f:
                data = json.load(f)
            self.rtol = data.get("rtol", self.rtol)
            self.atol = data.get("atol", self.atol)
        self._model = None
        self._ops = None

    @property
    def model_path(self):
        return os.path.join(self.dir, "model.onnx")

    @property
    def model(self):
        if self._model is None:
            self._model = onnx.load(self.model_path, load_external_data=False)
        return self._model

    @property
    def ops(self):
        if self._ops is None:
            try:
                self._ops = sorted(model_ops(self.model.graph))
            except Exception:  # noqa: BLE001
                self._ops = []
        return self._ops

    def drop_model(self):
        self._model = None

    @property
    def key(self):
        """SUITE/NAME, or SUITE/NAME@debian for a shadowed test."""
        k = f"{self.suite}/{self.name}"
        return f"{k}@{self.origin}" if self.shadowed else k

    def matches(self, spec):
        """spec: [SUITE/]NAME[@onnx|@debian]; without @, only the test the
        union chose (never a shadowed one)."""
        return spec_matches(spec, self.name, self.suite, self.origin,
                            self.shadowed)


def spec_matches(spec, name, suite, origin, shadowed):
    spec, _, want_origin = spec.partition("@")
    want_suite, _, want_name = spec.rpartition("/")
    if want_name != name or (want_suite and want_suite != suite):
        return False
    return origin == want_origin if want_origin else not shadowed


def onnx_version():
    return onnx.__version__


def debian_version():
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libonnx-testdata"],
            capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def write_case(case, out_dir):
    """Writes one onnx.backend.test TestCase to disk like onnx's
    `backend-test-tools generate-data` does."""
    os.makedirs(out_dir, exist_ok=True)
    model = case.model
    with open(os.path.join(out_dir, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())

    def ser(value, vi):
        if isinstance(value, onnx.TensorProto):
            return value.SerializeToString()
        if vi is not None and vi.type.HasField("map_type"):
            return numpy_helper.from_dict(value, vi.name).SerializeToString()
        if vi is not None and vi.type.HasField("sequence_type"):
            return numpy_helper.from_list(value, vi.name).SerializeToString()
        if vi is not None and vi.type.HasField("optional_type"):
            return numpy_helper.from_optional(value,
                                              vi.name).SerializeToString()
        return numpy_helper.from_array(np.asarray(value),
                                       vi.name if vi else "").SerializeToString()

    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(out_dir, f"test_data_set_{i}")
        os.makedirs(ds, exist_ok=True)
        gin, gout = list(model.graph.input), list(model.graph.output)
        for j, v in enumerate(inputs):
            with open(os.path.join(ds, f"input_{j}.pb"), "wb") as f:
                f.write(ser(v, gin[j] if j < len(gin) else None))
        for j, v in enumerate(outputs):
            with open(os.path.join(ds, f"output_{j}.pb"), "wb") as f:
                f.write(ser(v, gout[j] if j < len(gout) else None))


def generated_node_data(cache_root):
    """BUILD/conformance/onnx-node-data-<version>: the onnx package's node
    tests written to disk (once; ~10 s)."""
    target = os.path.join(cache_root, f"onnx-node-data-{onnx_version()}")
    stamp = os.path.join(target, "GENERATED")
    if os.path.exists(stamp):
        return target
    os.makedirs(cache_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="onnx-node-data-", dir=cache_root)
    print(f"generating the onnx {onnx_version()} node tests into {target} ...",
          file=sys.stderr)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        import onnx.backend.test.case.node as node_cases  # noqa: PLC0415
        cases = node_cases.collect_testcases(None)
    written, skipped = 0, []
    for case in cases:
        if case.model is None or not case.data_sets:
            continue
        try:
            write_case(case, os.path.join(tmp, case.name))
            written += 1
        except Exception as e:  # noqa: BLE001
            skipped.append(f"{case.name}: {e}")
            shutil.rmtree(os.path.join(tmp, case.name), ignore_errors=True)
    with open(os.path.join(tmp, "GENERATED"), "w") as f:
        f.write(f"onnx {onnx_version()}: {written} node tests\n")
        for s in skipped:
            f.write(f"skipped {s}\n")
    if os.path.exists(target):  # a concurrent run won
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        try:
            os.replace(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def suite_sources(suite, args):
    """[(directory, source label)], newest first."""
    srcs = []
    pkg = os.path.join(args.onnx_data, suite)
    if os.path.isdir(pkg) and os.listdir(pkg):
        srcs.append((pkg, f"onnx-{onnx_version()}"))
    elif suite == "node" and not args.no_generate:
        srcs.append((generated_node_data(args.cache_dir),
                     f"onnx-{onnx_version()}-generated"))
    deb = os.path.join(args.debian_data, suite)
    if os.path.isdir(deb):
        srcs.append((deb, f"debian-libonnx-testdata-{debian_version()}"))
    return srcs


def discover(suites, args):
    """(tests of the union, shadowed tests: those of an older source whose
    name a newer one has)."""
    tests, shadowed = [], []
    for suite in suites:
        seen = set()
        for directory, source in suite_sources(suite, args):
            for name in sorted(os.listdir(directory)):
                path = os.path.join(directory, name)
                if not os.path.isfile(os.path.join(path, "model.onnx")):
                    continue
                if name in seen:
                    shadowed.append(Test(name, suite, source, path, True))
                    continue
                seen.add(name)
                tests.append(Test(name, suite, source, path))
    return tests, shadowed


def data_sets(test):
    """[(label, [input path or array], [expected path or array])]: the
    test_data_set_* directories, then legacy test_data_*.npz files."""
    out = []
    for d in sorted(glob.glob(os.path.join(test.dir, "test_data_set_*")),
                    key=lambda p: (len(p), p)):
        if not os.path.isdir(d):
            continue
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        out.append((os.path.basename(d),
                    [os.path.join(d, f"input_{i}.pb") for i in range(n_in)],
                    [os.path.join(d, f"output_{i}.pb") for i in range(n_out)]))
    for npz in sorted(glob.glob(os.path.join(test.dir, "*.npz"))):
        data = np.load(npz, allow_pickle=True, encoding="bytes")
        out.append((os.path.basename(npz), list(data["inputs"]),
                    list(data["outputs"])))
    return out


# --------------------------------------------------------------------------
# Comparison.

def _as_expected_dtype(got, exp):
    """quant-run may store 16-bit float types numpy has no name for
    (bfloat16, float8) as raw bits; view them as the expected type."""
    if (got.dtype != exp.dtype and exp.dtype.kind == "V"
            and got.dtype.itemsize == exp.dtype.itemsize
            and got.dtype.kind in "Vui"):
        return got.view(exp.dtype)
    return got


def _fmt(x):
    return f"{x:.6g}"


def compare(exp, got, rtol, atol):
    """(ok, max abs error or None, reason)."""
    if isinstance(exp, (list, tuple)) or isinstance(got, (list, tuple)):
        if not isinstance(exp, (list, tuple)) or \
           not isinstance(got, (list, tuple)):
            return False, None, (f"type mismatch: got {type(got).__name__}, "
                                 f"expected {type(exp).__name__}")
        if len(exp) != len(got):
            return False, None, (f"sequence length {len(got)}, expected "
                                 f"{len(exp)}")
        worst = 0.0
        for k, (e, g) in enumerate(zip(exp, got)):
            ok, err, why = compare(e, g, rtol, atol)
            if err is not None:
                worst = max(worst, err)
            if not ok:
                return False, err, f"sequence element {k}: {why}"
        return True, worst, ""
    if exp is None or got is None:
        if exp is None and got is None:
            return True, 0.0, ""
        return False, None, ("got an empty optional" if got is None
                             else "expected an empty optional")
    if isinstance(exp, dict):
        return False, None, "map outputs are not compared"
    got, exp = np.asarray(got), np.asarray(exp)
    if tuple(got.shape) != tuple(exp.shape):
        return False, None, (f"shape {list(got.shape)}, expected "
                             f"{list(exp.shape)}")
    got = _as_expected_dtype(got, exp)
    if exp.dtype == object or exp.dtype.kind in "SU":
        ok = got.shape == exp.shape and np.array_equal(
            got.astype(object), exp.astype(object))
        return ok, None, "" if ok else "string values differ"
    if got.dtype != exp.dtype:
        return False, None, f"dtype {got.dtype}, expected {exp.dtype}"
    if exp.dtype.kind == "V":  # ml_dtypes types (bfloat16, float8, int4)
        if exp.dtype.name == "bfloat16":
            rtol = max(rtol, 2 ** -6)  # two bfloat16 ULPs, as onnx does
        exp, got = exp.astype(np.float32), got.astype(np.float32)
    if exp.dtype.kind == "b":
        exp, got = exp.astype(np.int8), got.astype(np.int8)
    if exp.size == 0:
        return True, 0.0, ""
    if exp.dtype.kind in "ui" and np.array_equal(exp, got):
        return True, 0.0, ""
    e = exp.astype(np.float64)
    g = got.astype(np.float64)
    e_nan, g_nan = np.isnan(e), np.isnan(g)
    if (e_nan != g_nan).any():
        n = int((e_nan != g_nan).sum())
        return False, None, f"NaN positions differ ({n} of {exp.size})"
    with np.errstate(all="ignore"):
        close = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        both_inf = np.isinf(e) & np.isinf(g) & (np.sign(e) == np.sign(g))
        diff = np.where(e_nan | both_inf, 0.0, np.abs(g - e))
    max_err = float(diff.max())
    n_bad = int((~close).sum())
    if n_bad:
        return False, max_err, (f"{n_bad} of {exp.size} elements differ; "
                                f"max abs error {_fmt(max_err)}")
    return True, max_err, ""


# --------------------------------------------------------------------------
# Parameters fed as graph inputs.
#
# Many node tests feed an operator's parameter (ReduceSum's axes, Reshape's
# shape, Slice's starts, Range's start, Resize's scales, ...) as a graph
# input, where the importer needs a constant. When quant-compile says so,
# the runner freezes exactly that graph input to the value of the data set
# being compiled (quant-compile --freeze-input NAME=FILE) and compiles again;
# everything else still runs in the compiled code. The test records
# "frozen_inputs".

MAX_FREEZE_ROUNDS = 8

# "<Op> node '<name>' (opset N): <what> must be a constant ..." as the
# importer's diagnostics say it; <what> names the input by position
# ("axes (input #1)") or by its ONNX schema name ("start", "scales",
# "training_mode", "scale", "zero point").
_DEMAND = re.compile(r"(?P<op>[A-Za-z_][A-Za-z0-9_]*) node '(?P<node>.*?)' "
                     r"\(opset (?P<opset>\d+)\): (?P<what>[^;:]*?) must be a "
                     r"constant\b")
_INPUT_NO = re.compile(r"\(input #(\d+)\)")


def schema_input_position(op_type, opset, what):
    """The position of the input of `op_type` at `opset` that `what` (a
    phrase of the importer's message: "start", "the shape", "zero point")
    names by its schema name, or None. A name matches exactly or as the
    last part of a schema name ("scale" is QuantizeLinear's y_scale); a
    phrase that matches no input or several gives None."""
    words = re.sub(r"^the\s+", "", what.strip().lower())
    name = re.sub(r"\s+", "_", words)
    if not name or name in ("input", "inputs", "x"):
        return None  # the data input itself ("the input must be a constant")
    try:
        schema = onnx.defs.get_schema(op_type, int(opset), "")
    except Exception:  # noqa: BLE001 - unknown op or opset
        return None
    names = [i.name.lower() for i in schema.inputs]
    if name in names:
        return names.index(name)
    hits = [k for k, n in enumerate(names) if n.endswith("_" + name)]
    return hits[0] if len(hits) == 1 else None


def find_node(graph, op_type, name):
    """The node the importer calls `name`: its own name, or for an unnamed
    node '<OpType>_<index in graph.node>'."""
    for node in graph.node:
        if node.name and node.name == name and node.op_type == op_type:
            return node
    m = re.fullmatch(re.escape(op_type) + r"_(\d+)", name)
    if m:
        k = int(m.group(1))
        if k < len(graph.node) and not graph.node[k].name and \
           graph.node[k].op_type == op_type:
            return graph.node[k]
    return None


def demanded_input(model, message):
    """The graph input that a compile error says must be a constant, when
    the node input it names is directly that graph input (not an
    initializer, not computed by a node), else None."""
    m = _DEMAND.search(message)
    if not m:
        return None
    node = find_node(model.graph, m.group("op"), m.group("node"))
    if node is None:
        return None
    what = m.group("what")
    no = _INPUT_NO.search(what)
    pos = (int(no.group(1)) if no else
           schema_input_position(m.group("op"), m.group("opset"), what))
    if pos is None or pos >= len(node.input) or not node.input[pos]:
        return None
    value = node.input[pos]
    inits = {t.name for t in model.graph.initializer}
    if value in inits:
        return None
    for vi in model.graph.input:
        if vi.name == value and type_kind(vi.type) == "tensor_type":
            return value
    return None


def freeze_inputs(model, frozen):
    """A copy of `model` whose graph inputs named in `frozen` ({name: .pb or
    .npy path}) are initializers holding those values."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    keep = [vi for vi in g.input if vi.name not in frozen]
    for name, path in frozen.items():
        g.initializer.append(numpy_helper.from_array(
            np.asarray(load_value(path)), name))
    del g.input[:]
    g.input.extend(keep)
    return model


def value_digest(path):
    """A digest of an input file's value (dtype, shape, data)."""
    v = np.ascontiguousarray(np.asarray(load_value(path)))
    h = hashlib.sha1(f"{v.dtype.str}{v.shape}".encode())
    h.update(v.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------
# One test.

def run_test(test, backend, listed, work_root, keep):
    t0 = time.monotonic()
    res = {"id": test.key, "name": test.name, "suite": test.suite,
           "source": test.source,
           "status": None, "ops": test.ops,
           "all_ops_listed": (None if listed is None else
                              all(o in listed for o in test.ops)),
           "max_error": None, "message": "", "seconds": 0.0,
           "data_sets": 0, "frozen_inputs": []}
    work = tempfile.mkdtemp(prefix=re.sub(r"\W", "_", test.name)[:60] + "-",
                            dir=work_root)
    try:
        _run_test(test, backend, work, res)
    except StepTimeout as e:
        res["status"], res["message"] = "fail", str(e)
    except BackendFailure as e:
        res["status"], res["message"] = "fail", str(e)
    except Exception as e:  # noqa: BLE001 - a runner problem; keep going
        res["status"] = "fail"
        res["message"] = f"runner error: {type(e).__name__}: {e}"
    finally:
        test.drop_model()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    res["seconds"] = round(time.monotonic() - t0, 3)
    if isinstance(res["max_error"], float) and not math.isfinite(
            res["max_error"]):
        res["max_error"] = str(res["max_error"])
    return res


def _run_test(test, backend, work, res):
    model = test.model
    inits = {t.name for t in model.graph.initializer}
    gin = [i for i in model.graph.input if i.name not in inits]
    gout = list(model.graph.output)
    out_names = [o.name for o in gout]
    sets = data_sets(test)
    res["data_sets"] = len(sets)
    if not sets:
        res["status"], res["message"] = "unsupported", "no test data sets"
        return
    # Sequences and optionals of tensors are fed and read element by
    # element (docs/Import/Sequences.md); maps and nested sequences are not.
    non_tensor = [f"{kind} '{v.name}' is a {type_kind(v.type)}"
                  for kind, vs in (("input", gin), ("output", gout))
                  for v in vs if not tensor_like(v.type)]
    output_kinds = {v.name: (type_kind(v.type)
                             if type_kind(v.type) != "tensor_type" else None)
                    for v in gout}

    def input_files(label, ins, ds_dir):
        if len(ins) > len(gin):
            raise BackendFailure(f"{label}: {len(ins)} inputs for a graph "
                                 f"with {len(gin)} non-initializer inputs")
        files = {}
        for k, v in enumerate(ins):
            if isinstance(v, str):
                files[gin[k].name] = v
            else:
                p = os.path.join(ds_dir, f"input_{k}.npy")
                np.save(p, np.asarray(v))
                files[gin[k].name] = p
        return files

    def shapes(files):
        pins = {}
        for name, path in files.items():
            vi = next(v for v in gin if v.name == name)
            if type_kind(vi.type) != "tensor_type":
                if tensor_like(vi.type):
                    pins.update(form_pins(name, load_value(path, vi.type)))
                continue
            pins[name] = (list(np.load(path, mmap_mode="r").shape)
                          if path.endswith(".npy") else tensor_dims(path))
        return pins

    def element_files(files, ds_dir):
        """The files quant-run is given: a sequence input's elements as
        NAME[k], an optional's element as NAME, nothing for an empty one."""
        out = {}
        for name, path in files.items():
            vi = next(v for v in gin if v.name == name)
            if type_kind(vi.type) == "tensor_type":
                out[name] = path
                continue
            value = load_value(path, vi.type)
            items = ([(name, value)] if not isinstance(value, list) else
                     [(element_name(name, k), e)
                      for k, e in enumerate(value)])
            for k, (n, e) in enumerate(items):
                if e is None:
                    continue
                p = os.path.join(ds_dir, f"{sanitize(name)}.{k}.npy")
                np.save(p, np.asarray(e))
                out[n] = p
        return out

    # Graph inputs frozen to constants because the importer demands them
    # constant (see demanded_input), in the order learned; shared by the
    # data sets, each compile freezing them to its data set's values.
    frozen = res["frozen_inputs"]

    def compile_key(files):
        return json.dumps({"pins": {n: s for n, s in shapes(files).items()
                                    if n not in frozen},
                           "frozen": {n: value_digest(files[n])
                                      for n in frozen}}, sort_keys=True)

    def compile_freezing(cdir, files):
        """backend.compile, freezing each graph input the compile errors
        demand constant (one more a round); (artifact, the frozen names)."""
        for _ in range(MAX_FREEZE_ROUNDS + 1):
            fz = {n: files[n] for n in frozen}
            pins = {n: s for n, s in shapes(files).items() if n not in fz}
            try:
                return backend.compile(test.model_path, cdir, pins,
                                       fz), set(fz)
            except CompileError as e:
                name = (demanded_input(model, str(e))
                        if getattr(backend, "can_freeze", False) else None)
                if name is None or name in fz or name not in files or \
                   len(frozen) >= MAX_FREEZE_ROUNDS:
                    raise
                frozen.append(name)
        raise AssertionError("unreachable")

    # One compile per distinct set of input shapes (the ONNX data sets of a
    # test almost always share one; the first one's shapes are pinned), and
    # of frozen input values.
    artifacts = {}
    worst = 0.0
    for idx, (label, ins, outs) in enumerate(sets):
        ds_dir = os.path.join(work, f"ds{idx}")
        os.makedirs(ds_dir)
        files = input_files(label, ins, ds_dir)
        key = compile_key(files)
        if key not in artifacts:
            cdir = os.path.join(work, f"compile{len(artifacts)}")
            os.makedirs(cdir)
            try:
                artifacts[key] = compile_freezing(cdir, files)
            except CompileError as e:
                if artifacts:  # compiled for data set 0, not for this one
                    raise BackendFailure(f"{label}: compile with shapes "
                                         f"{shapes(files)} failed: {e}")
                res["status"], res["message"] = "unsupported", str(e)
                if frozen:
                    res["message"] += f" [frozen inputs: {', '.join(frozen)}]"
                return
            # Under the key with what this compile froze, too.
            artifacts.setdefault(compile_key(files), artifacts[key])
        artifact, used = artifacts[key]
        ours = backend.name.startswith("ours")
        if non_tensor and ours:
            res["status"] = "unsupported"
            res["message"] = ("runner: " + "; ".join(non_tensor) +
                              " (quant-run takes tensors, and sequences "
                              "and optionals of tensors)")
            return
        odir = os.path.join(ds_dir, "out")
        os.makedirs(odir)
        run_files = {n: p for n, p in files.items() if n not in used}
        if ours:
            run_files = element_files(run_files, ds_dir)
        got = backend.run(artifact, run_files, odir, out_names,
                          output_kinds if ours else None)
        if len(outs) != len(gout):
            raise BackendFailure(f"{label}: {len(outs)} expected outputs for "
                                 f"a graph with {len(gout)} outputs")
        for k, (vi, exp) in enumerate(zip(gout, outs)):
            if isinstance(exp, str):
                exp = load_value(exp, vi.type)
            ok, err, why = compare(exp, got[vi.name], test.rtol, test.atol)
            if err is not None:
                worst = max(worst, err)
            if not ok:
                res["status"] = "fail"
                res["max_error"] = err
                res["output"], res["data_set"] = vi.name, label
                res["message"] = (f"{label} output #{k} '{vi.name}': {why} "
                                  f"(rtol={test.rtol:g}, atol={test.atol:g})")
                return
    res["status"], res["max_error"] = "pass", worst


# --------------------------------------------------------------------------
# Selection, summary, CLI.

def listed_ops(build_dir):
    exe = os.path.join(build_dir, "bin", "quant-translate")
    try:
        out = subprocess.run([exe, "--list-onnx-ops"], capture_output=True,
                             text=True, check=True, timeout=60).stdout
    except Exception as e:  # noqa: BLE001
        print(f"warning: cannot list the importer's ops ({e}); "
              "all_ops_listed will be null", file=sys.stderr)
        return None
    ops = {}
    for line in out.splitlines():
        parts = line.split()
        if parts:
            ops[parts[0]] = parts[1] if len(parts) > 1 else ""
    return ops


def read_subset_file(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def select(tests, shadowed, args, listed):
    if args.all_sources:
        tests = tests + shadowed
    if args.filter:
        rx = re.compile(args.filter)
        tests = [t for t in tests if rx.search(t.name) or rx.search(t.key)]
        shadowed = [t for t in shadowed
                    if rx.search(t.name) or rx.search(t.key)]
    missing = []
    if args.subset_file:
        wanted = read_subset_file(args.subset_file)
        chosen, seen = [], set()
        pool = tests + [t for t in shadowed if t not in tests]
        for w in wanted:
            hits = [t for t in pool if t.matches(w)]
            if not hits:
                missing.append(w)
            for t in hits:
                if t.key not in seen:
                    seen.add(t.key)
                    chosen.append(t)
        tests = chosen
    elif args.subset is not None:
        pool = sorted(tests, key=lambda t: (t.name, t.suite))
        if listed is not None:
            pool = [t for t in pool if all(o in listed for o in t.ops)]
        n = min(args.subset, len(pool))
        tests = [pool[(i * len(pool)) // n] for i in range(n)] if n else []
    return tests, missing


def counts(results):
    c = {"total": len(results)}
    for s in ("pass", "fail", "unsupported"):
        c[s] = sum(r["status"] == s for r in results)
    # Of the passes, those that froze graph inputs to constants.
    c["pass_with_frozen_inputs"] = sum(
        r["status"] == "pass" and bool(r.get("frozen_inputs"))
        for r in results)
    return c


def summarize(results, suites):
    summary = {}
    for suite in suites + ["overall"]:
        rs = [r for r in results if suite == "overall" or r["suite"] == suite]
        if not rs and suite != "overall":
            continue
        s = counts(rs)
        lst = [r for r in rs if r["all_ops_listed"]]
        s["listed"] = counts(lst)
        s["pass_rate"] = round(s["pass"] / s["total"], 4) if s["total"] else None
        s["pass_rate_supported"] = (round(len([r for r in lst
                                               if r["status"] == "pass"]) /
                                          len(lst), 4) if lst else None)
        s["seconds"] = round(sum(r["seconds"] for r in rs), 1)
        summary[suite] = s
    return summary


def operator_stats(results):
    """Per op: tests using it, passed, compiled (pass or fail after a
    successful compile)."""
    ops = {}
    for r in results:
        for op in r["ops"]:
            o = ops.setdefault(op, {"tests": 0, "pass": 0, "fail": 0,
                                    "unsupported": 0,
                                    "pass_with_frozen_inputs": 0})
            o["tests"] += 1
            o[r["status"]] += 1
            o["pass_with_frozen_inputs"] += (r["status"] == "pass" and
                                             bool(r.get("frozen_inputs")))
    return dict(sorted(ops.items()))


def summary_line(name, s):
    lst = s["listed"]
    rate = ("n/a" if s["pass_rate_supported"] is None
            else f"{100 * s['pass_rate_supported']:.1f}%")
    return (f"{name:18s} {s['total']:5d} tests: {s['pass']:5d} pass "
            f"({s['pass_with_frozen_inputs']} with frozen inputs) "
            f"{s['fail']:5d} fail {s['unsupported']:5d} unsupported | "
            f"all ops listed: {lst['total']:5d} tests, {lst['pass']:5d} pass "
            f"({rate})")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--suites", default=",".join(ALL_SUITES),
                    help="comma-separated, of: " + ",".join(ALL_SUITES))
    ap.add_argument("--filter", help="regex searched in NAME or SUITE/NAME")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--subset", type=int, metavar="N",
                   help="a deterministic spread of N tests (every k-th by "
                   "name) among those whose ops are all listed")
    g.add_argument("--subset-file", metavar="FILE",
                   help="tests, one a line as [SUITE/]NAME[@onnx|@debian] "
                   "('@debian': the Debian copy even where the onnx package "
                   "has the name), '#' comments")
    ap.add_argument("--timeout-per-test", type=float, default=60.0,
                    help="seconds for each step (compile, each run)")
    ap.add_argument("--jobs", "-j", type=int, default=2)
    ap.add_argument("--output", help="JSON results (default "
                    "BUILD/conformance/conformance.json)")
    ap.add_argument("--update-docs", action="store_true",
                    help="fill docs/ONNXOperators.md's conformance columns "
                    "(scripts/update_op_table.py)")
    ap.add_argument("--backend", choices=["ours", "onnxruntime"],
                    default="ours")
    ap.add_argument("--export-gpu", metavar="DIR", default=None,
                    help="also compile each test with --target=nvptx and "
                         "export it for test/gpu/check_models.py")
    ap.add_argument("--gpu-arch", default="sm_90")
    ap.add_argument("--onnx-data", default=ONNX_DATA,
                    help="the onnx package's test data (default %(default)s)")
    ap.add_argument("--debian-data", default=DEBIAN_DATA,
                    help="libonnx-testdata's data (default %(default)s)")
    ap.add_argument("--cache-dir", help="where the generated node tests go "
                    "(default BUILD/conformance)")
    ap.add_argument("--all-sources", action="store_true",
                    help="also run the Debian tests whose names the onnx "
                    "package has (as SUITE/NAME@debian; older opsets)")
    ap.add_argument("--no-generate", action="store_true",
                    help="do not generate the onnx package's node tests")
    ap.add_argument("--work-dir", help="scratch space (default "
                    "BUILD/conformance/work)")
    ap.add_argument("--keep", action="store_true",
                    help="keep each test's artifacts and outputs")
    ap.add_argument("--list", action="store_true",
                    help="print the selected tests and exit")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="a line per test")
    args = ap.parse_args(argv)
    args.build_dir = os.path.abspath(args.build_dir)
    conf_dir = os.path.join(args.build_dir, "conformance")
    args.output = args.output or os.path.join(conf_dir, "conformance.json")
    args.cache_dir = args.cache_dir or conf_dir
    args.work_dir = args.work_dir or os.path.join(conf_dir, "work")
    args.suite_list = [s.strip() for s in args.suites.split(",") if s.strip()]
    bad = [s for s in args.suite_list if s not in ALL_SUITES]
    if bad:
        ap.error(f"unknown suite(s) {bad}; 'real' and 'light' need "
                 "downloads and are not run")
    if args.update_docs and args.backend != "ours":
        ap.error("--update-docs records our tools' results; it needs "
                 "--backend=ours")
    return args


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.export_gpu:
        backend = NVPTXExportBackend(args.build_dir, args.timeout_per_test,
                                     args.export_gpu, args.gpu_arch)
    else:
        backend_cls = (OursBackend if args.backend == "ours"
                       else OnnxruntimeBackend)
        backend = backend_cls(args.build_dir, args.timeout_per_test)
    listed = listed_ops(args.build_dir)
    tests, missing = select(*discover(args.suite_list, args), args, listed)
    if missing:
        print(f"warning: {len(missing)} requested test(s) not found: "
              + ", ".join(missing), file=sys.stderr)
    if args.list:
        for t in tests:
            print(f"{t.key}\t{t.source}\t{','.join(t.ops)}")
        return 0
    problem = backend.check()
    if problem:
        print(f"error: backend '{backend.name}' {problem}", file=sys.stderr)
        return 2
    os.makedirs(args.work_dir, exist_ok=True)
    print(f"running {len(tests)} tests ({backend.name} backend, "
          f"{args.jobs} jobs)", file=sys.stderr)
    t0 = time.monotonic()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futs = {pool.submit(run_test, t, backend, listed, args.work_dir,
                            args.keep): t for t in tests}
        for fut in concurrent.futures.as_completed(futs):
            r = fut.result()
            results.append(r)
            if args.verbose:
                extra = f": {r['message']}" if r["message"] else ""
                if r["frozen_inputs"] and r["status"] == "pass":
                    extra += f" [frozen inputs: {', '.join(r['frozen_inputs'])}]"
                print(f"[{len(results)}/{len(tests)}] {r['id']} "
                      f"{r['status']} ({r['seconds']:.1f}s)"
                      f"{extra}", file=sys.stderr, flush=True)
            elif len(results) % 100 == 0:
                print(f"  {len(results)}/{len(tests)} done", file=sys.stderr,
                      flush=True)
    wall = time.monotonic() - t0
    if args.export_gpu:
        backend.write_cases(results)
    order = {t.key: i for i, t in enumerate(tests)}
    results.sort(key=lambda r: order[r["id"]])
    summary = summarize(results, args.suite_list)
    doc = {
        "backend": backend.name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "command": " ".join([os.path.basename(sys.argv[0])] +
                            (argv if argv is not None else sys.argv[1:])),
        "tolerances": {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL,
                       "note": "per-test data.json overrides"},
        "onnx_version": onnx_version(),
        "debian_testdata_version": debian_version(),
        "suites": args.suite_list,
        "all_sources": args.all_sources,
        "wall_seconds": round(wall, 1),
        "listed_ops": sorted(listed) if listed is not None else None,
        "missing": missing,
        "summary": summary,
        "operators": operator_stats(results),
        "tests": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(doc, f, indent=1)
    for name, s in summary.items():
        print(summary_line(name, s))
    print(f"wall time {wall:.1f}s; results in {args.output}")
    if args.update_docs:
        subprocess.run([sys.executable,
                        os.path.join(ROOT, "scripts", "update_op_table.py"),
                        "--build-dir", args.build_dir,
                        "--conformance", args.output], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
