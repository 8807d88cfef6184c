"""Cross-checks the lean runtime's tensor files against numpy and onnx, the
references for the two formats: .npy files numpy writes (every dtype, 0-d,
empty, big-endian, format 1.0-3.0) and TensorProtos onnx serializes (raw_data
and typed fields) load with the right dtype, dims and bytes, and the files
the runtime writes read back identically with np.load and onnx.TensorProto.

The runtime is loaded with ctypes from $QOPT_RUNTIME_LIB, by default
$QOPT_BUILD_DIR/lib/libqopt_runtime.so; the tests skip when it is missing."""

import ctypes
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# qopt_dtype codes (ONNX TensorProto.DataType) and their numpy dtypes.
NUMPY_OF = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    4: np.uint16,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
    12: np.uint32,
    13: np.uint64,
}
CODE_OF = {np.dtype(t): code for code, t in NUMPY_OF.items()}
BF16 = 16

DTYPES = list(NUMPY_OF.values())
DTYPE_IDS = [np.dtype(t).name for t in DTYPES]
SHAPES = [(), (0,), (5,), (2, 3), (2, 0, 4), (1, 1, 3, 2)]


def library_path():
    explicit = os.environ.get("QOPT_RUNTIME_LIB")
    if explicit:
        return explicit
    build = os.environ.get("QOPT_BUILD_DIR", os.path.join(ROOT, "build"))
    return os.path.join(build, "lib", "libqopt_runtime.so")


P = ctypes.POINTER
TENSOR = ctypes.c_void_p
STR = ctypes.c_char_p
# restype, argtypes of the functions used, from qopt_runtime.h.
SIGNATURES = {
    "qopt_last_error": (STR, []),
    "qopt_tensor_create_copy": (
        ctypes.c_int,
        [ctypes.c_int, ctypes.c_int, P(ctypes.c_int64), ctypes.c_void_p, P(TENSOR)],
    ),
    "qopt_tensor_free": (None, [TENSOR]),
    "qopt_tensor_dtype": (ctypes.c_int, [TENSOR]),
    "qopt_tensor_rank": (ctypes.c_int, [TENSOR]),
    "qopt_tensor_dims": (P(ctypes.c_int64), [TENSOR]),
    "qopt_tensor_byte_size": (ctypes.c_size_t, [TENSOR]),
    "qopt_tensor_const_data": (ctypes.c_void_p, [TENSOR]),
    "qopt_tensor_load_npy": (ctypes.c_int, [STR, P(TENSOR)]),
    "qopt_tensor_save_npy": (ctypes.c_int, [TENSOR, STR]),
    "qopt_tensor_load_pb": (ctypes.c_int, [STR, P(TENSOR), P(ctypes.c_void_p)]),
    "qopt_tensor_save_pb": (ctypes.c_int, [TENSOR, STR, STR]),
    "qopt_tensor_load": (ctypes.c_int, [STR, P(TENSOR)]),
}


class Runtime:
    """The tensor-file functions of qopt_runtime.h, through ctypes."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(self.lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        self.libc = ctypes.CDLL(None)
        self.libc.free.argtypes = [ctypes.c_void_p]

    def _check(self, status):
        if status != 0:
            raise RuntimeError(self.lib.qopt_last_error().decode())

    def to_numpy(self, t):
        """(qopt dtype code, a copy of the tensor as an array)."""
        lib = self.lib
        dims = tuple(lib.qopt_tensor_dims(t)[i] for i in range(lib.qopt_tensor_rank(t)))
        size = lib.qopt_tensor_byte_size(t)
        data = ctypes.string_at(lib.qopt_tensor_const_data(t), size)
        code = lib.qopt_tensor_dtype(t)
        # bfloat16 comes back as its uint16 bits.
        array = np.frombuffer(data, dtype=NUMPY_OF.get(code, np.uint16))
        return code, array.reshape(dims).copy()

    def from_numpy(self, arr, code=None):
        # np.ascontiguousarray would turn a 0-d array into a 1-d one.
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")
        code = CODE_OF[arr.dtype] if code is None else code
        dims = (ctypes.c_int64 * max(arr.ndim, 1))(*arr.shape)
        out = TENSOR()
        create = self.lib.qopt_tensor_create_copy
        self._check(create(code, arr.ndim, dims, arr.ctypes.data, ctypes.byref(out)))
        return out

    def load(self, fn, path):
        """(code, array) from qopt_tensor_load_npy or qopt_tensor_load."""
        out = TENSOR()
        self._check(getattr(self.lib, fn)(str(path).encode(), ctypes.byref(out)))
        try:
            return self.to_numpy(out)
        finally:
            self.lib.qopt_tensor_free(out)

    def load_pb(self, path):
        """(code, array, name)."""
        out, name = TENSOR(), ctypes.c_void_p()
        self._check(
            self.lib.qopt_tensor_load_pb(
                str(path).encode(), ctypes.byref(out), ctypes.byref(name)
            )
        )
        try:
            return (*self.to_numpy(out), ctypes.string_at(name.value).decode())
        finally:
            self.lib.qopt_tensor_free(out)
            self.libc.free(name)

    def save_npy(self, arr, path, code=None):
        t = self.from_numpy(arr, code)
        try:
            self._check(self.lib.qopt_tensor_save_npy(t, str(path).encode()))
        finally:
            self.lib.qopt_tensor_free(t)

    def save_pb(self, arr, name, path, code=None):
        t = self.from_numpy(arr, code)
        try:
            save = self.lib.qopt_tensor_save_pb
            self._check(save(t, name.encode(), str(path).encode()))
        finally:
            self.lib.qopt_tensor_free(t)


@pytest.fixture(scope="module")
def rt():
    path = library_path()
    if not os.path.exists(path):
        pytest.skip(f"the runtime library is not built: {path} (set QOPT_RUNTIME_LIB)")
    return Runtime(path)


def sample(dtype, shape, seed=0):
    """Random values of every magnitude the dtype holds (an array, also 0-d)."""
    return np.asarray(_sample(dtype, shape, seed))


def _sample(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind == "f":
        return (rng.standard_normal(size=shape) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def assert_same(code, got, want):
    assert code == CODE_OF[np.dtype(want.dtype).newbyteorder("=")]
    assert got.shape == want.shape
    native = want.dtype.newbyteorder("=")
    assert got.tobytes() == np.asarray(want, dtype=native).tobytes()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_numpy_npy_loads(rt, tmp_path, dtype, shape):
    arr = sample(dtype, shape)
    path = tmp_path / "a.npy"
    np.save(path, arr)
    assert_same(*rt.load("qopt_tensor_load_npy", path), arr)
    assert_same(*rt.load("qopt_tensor_load", path), arr)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)], ids=str)
def test_npy_format_versions(rt, tmp_path, version):
    arr = sample(np.int32, (3, 4))
    path = tmp_path / "v.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)
    assert_same(*rt.load("qopt_tensor_load_npy", path), arr)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3)], ids=str)
@pytest.mark.parametrize("dtype", "f2 f4 f8 i2 u2 i4 u4 i8 u8 i1 u1".split())
def test_big_endian_npy_loads(rt, tmp_path, dtype, shape):
    arr = sample(np.dtype("<" + dtype), shape)
    path = tmp_path / "be.npy"
    np.save(path, arr.astype(">" + dtype))
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        assert np.lib.format.read_array_header_1_0(f)[2].byteorder in ">|"
    assert_same(*rt.load("qopt_tensor_load_npy", path), arr)


def test_fortran_order_npy_is_rejected(rt, tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(sample(np.float32, (2, 3))))
    with pytest.raises(RuntimeError, match="fortran_order"):
        rt.load("qopt_tensor_load_npy", path)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_saved_npy_loads_in_numpy(rt, tmp_path, dtype, shape):
    arr = sample(dtype, shape, seed=1)
    path = tmp_path / "s.npy"
    rt.save_npy(arr, path)
    with open(path, "rb") as f:
        assert np.lib.format.read_magic(f) == (1, 0)
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(f)
        assert f.tell() % 64 == 0
    assert (got_shape, fortran, got_dtype) == (arr.shape, False, arr.dtype)
    back = np.load(path)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()
    assert os.listdir(tmp_path) == ["s.npy"]


def test_bfloat16_cannot_be_saved_as_npy(rt, tmp_path):
    path = tmp_path / "b.npy"
    with pytest.raises(RuntimeError, match="bfloat16"):
        rt.save_npy(np.zeros(3, np.uint16), path, code=BF16)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_onnx_from_array_loads(rt, tmp_path, dtype, shape):
    arr = sample(dtype, shape, seed=2)
    path = tmp_path / "t.pb"
    path.write_bytes(numpy_helper.from_array(arr, name="input_0").SerializeToString())
    code, got, name = rt.load_pb(path)
    assert name == "input_0"
    assert_same(code, got, arr)
    assert_same(*rt.load("qopt_tensor_load", path), arr)


TYPED = [
    (TensorProto.FLOAT, [1.5, -2.25, 3e38]),
    (TensorProto.DOUBLE, [1e-300, -2.5, 7.0]),
    (TensorProto.INT32, [-(2**31), 2**31 - 1, 0]),
    (TensorProto.INT16, [-32768, 32767, 5]),
    (TensorProto.INT8, [-128, 127, -1]),
    (TensorProto.UINT16, [0, 65535, 9]),
    (TensorProto.UINT8, [0, 255, 3]),
    (TensorProto.BOOL, [True, False, True]),
    (TensorProto.FLOAT16, [1.0, -65504.0, 0.5]),
    (TensorProto.INT64, [-(2**63), 2**63 - 1, -3]),
    (TensorProto.UINT32, [0, 2**32 - 1, 12]),
    (TensorProto.UINT64, [0, 2**64 - 1, 2**40]),
]


@pytest.mark.parametrize(
    "data_type,values", TYPED, ids=[TensorProto.DataType.Name(t) for t, _ in TYPED]
)
def test_onnx_typed_fields_load(rt, tmp_path, data_type, values):
    proto = helper.make_tensor("typed", data_type, [3, 1], values, raw=False)
    assert not proto.HasField("raw_data")
    path = tmp_path / "typed.pb"
    path.write_bytes(proto.SerializeToString())
    code, got, name = rt.load_pb(path)
    assert name == "typed"
    assert code == data_type
    assert_same(code, got, numpy_helper.to_array(proto))


def test_onnx_bfloat16_loads(rt, tmp_path):
    for raw in (False, True):
        proto = helper.make_tensor("bf", TensorProto.BFLOAT16, [2], [1.0, -3.0])
        if raw:
            proto = numpy_helper.from_array(numpy_helper.to_array(proto), name="bf")
        path = tmp_path / "bf.pb"
        path.write_bytes(proto.SerializeToString())
        code, got, _ = rt.load_pb(path)
        assert code == BF16
        assert got.tolist() == [0x3F80, 0xC040]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_saved_pb_parses_in_onnx(rt, tmp_path, dtype, shape):
    arr = sample(dtype, shape, seed=3)
    path = tmp_path / "s.pb"
    rt.save_pb(arr, "weight", path)
    proto = TensorProto.FromString(path.read_bytes())
    assert proto.name == "weight"
    assert proto.data_type == CODE_OF[arr.dtype]
    assert list(proto.dims) == list(arr.shape)
    back = numpy_helper.to_array(proto)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert back.tobytes() == arr.tobytes()
    assert os.listdir(tmp_path) == ["s.pb"]


def test_saved_bfloat16_pb_parses_in_onnx(rt, tmp_path):
    bits = np.array([0x3F80, 0xC040, 0x7F80], np.uint16)
    path = tmp_path / "bf.pb"
    rt.save_pb(bits, "bf", path, code=BF16)
    proto = TensorProto.FromString(path.read_bytes())
    assert proto.data_type == TensorProto.BFLOAT16
    assert proto.raw_data == bits.tobytes()
    values = numpy_helper.to_array(proto).astype(np.float32).tolist()
    assert values == [1.0, -3.0, float("inf")]


def test_external_data_is_rejected(rt, tmp_path):
    proto = numpy_helper.from_array(np.zeros(4, np.float32), name="w")
    proto.ClearField("raw_data")
    proto.data_location = TensorProto.EXTERNAL
    entry = proto.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    path = tmp_path / "ext.pb"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(RuntimeError, match="external data"):
        rt.load_pb(path)


def test_string_tensors_are_rejected(rt, tmp_path):
    path = tmp_path / "s.pb"
    proto = helper.make_tensor("s", TensorProto.STRING, [1], [b"hi"])
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(RuntimeError, match="string tensors"):
        rt.load_pb(path)
