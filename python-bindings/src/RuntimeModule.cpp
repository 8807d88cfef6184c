//===- RuntimeModule.cpp - quant_opt._runtime: the lean runtime in Python -===//
//
// A nanobind extension over the runtime's C API (qopt_runtime.h) and
// nothing else: it loads and runs artifacts on a machine that has no
// LLVM/MLIR. numpy arrays and DLPack tensors go in as views (no copy) when
// they are C-contiguous CPU memory; outputs come back as numpy arrays that
// own the runtime's result buffers (no copy either). The GIL is released
// while a model runs. run_device: CUDA DLPack tensors in, DLPack tensors
// over device buffers out (qopt_cuda_model_run, no host transfers).
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_cuda.h"
#include "qopt/Runtime/qopt_runtime.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <dlfcn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using InputArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
/// Any device: run_device checks that it is CUDA memory.
using DeviceArray = nb::ndarray<nb::ro, nb::c_contig>;
using OutArray = nb::ndarray<nb::c_contig>;

/// Raises quant_opt's exception class `cls` (quant_opt._errors) with
/// `message`.
[[noreturn]] void raise(const char *cls, const std::string &message) {
  nb::object type = nb::module_::import_("quant_opt._errors").attr(cls);
  PyErr_SetString(type.ptr(), message.c_str());
  throw nb::python_error();
}

/// The runtime's element type of a DLPack dtype, or INVALID.
qopt_dtype fromDLPack(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1)
    return QOPT_DTYPE_INVALID;
  switch (Code(t.code)) {
  case Code::Float:
    return t.bits == 32   ? QOPT_DTYPE_F32
           : t.bits == 64 ? QOPT_DTYPE_F64
           : t.bits == 16 ? QOPT_DTYPE_F16
                          : QOPT_DTYPE_INVALID;
  case Code::Bfloat:
    return t.bits == 16 ? QOPT_DTYPE_BF16 : QOPT_DTYPE_INVALID;
  case Code::Int:
    return t.bits == 8    ? QOPT_DTYPE_I8
           : t.bits == 16 ? QOPT_DTYPE_I16
           : t.bits == 32 ? QOPT_DTYPE_I32
           : t.bits == 64 ? QOPT_DTYPE_I64
                          : QOPT_DTYPE_INVALID;
  case Code::UInt:
    return t.bits == 8    ? QOPT_DTYPE_U8
           : t.bits == 16 ? QOPT_DTYPE_U16
           : t.bits == 32 ? QOPT_DTYPE_U32
           : t.bits == 64 ? QOPT_DTYPE_U64
                          : QOPT_DTYPE_INVALID;
  case Code::Bool:
    return QOPT_DTYPE_BOOL;
  case Code::Float8_E4M3FN:
    return QOPT_DTYPE_F8E4M3FN;
  case Code::Float8_E4M3FNUZ:
    return QOPT_DTYPE_F8E4M3FNUZ;
  case Code::Float8_E5M2:
    return QOPT_DTYPE_F8E5M2;
  case Code::Float8_E5M2FNUZ:
    return QOPT_DTYPE_F8E5M2FNUZ;
  default:
    return QOPT_DTYPE_INVALID;
  }
}

/// How numpy holds a runtime dtype it has no type for: 4- and 2-bit
/// integers one per byte (sign-extended), bfloat16 as its uint16 bits,
/// float8/float4 as their uint8 codes.
qopt_dtype storageDType(qopt_dtype d) {
  switch (d) {
  case QOPT_DTYPE_I4:
  case QOPT_DTYPE_I2:
    return QOPT_DTYPE_I8;
  case QOPT_DTYPE_U4:
  case QOPT_DTYPE_U2:
  case QOPT_DTYPE_F8E4M3FN:
  case QOPT_DTYPE_F8E4M3FNUZ:
  case QOPT_DTYPE_F8E5M2:
  case QOPT_DTYPE_F8E5M2FNUZ:
  case QOPT_DTYPE_F4E2M1:
    return QOPT_DTYPE_U8;
  case QOPT_DTYPE_BF16:
    return QOPT_DTYPE_U16;
  default:
    return d;
  }
}

nb::dlpack::dtype toDLPack(qopt_dtype d) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code c, int bits) {
    nb::dlpack::dtype t;
    t.code = uint8_t(c);
    t.bits = uint8_t(bits);
    t.lanes = 1;
    return t;
  };
  switch (storageDType(d)) {
  case QOPT_DTYPE_F32:
    return make(Code::Float, 32);
  case QOPT_DTYPE_F64:
    return make(Code::Float, 64);
  case QOPT_DTYPE_F16:
    return make(Code::Float, 16);
  case QOPT_DTYPE_I8:
    return make(Code::Int, 8);
  case QOPT_DTYPE_I16:
    return make(Code::Int, 16);
  case QOPT_DTYPE_I32:
    return make(Code::Int, 32);
  case QOPT_DTYPE_I64:
    return make(Code::Int, 64);
  case QOPT_DTYPE_U8:
    return make(Code::UInt, 8);
  case QOPT_DTYPE_U16:
    return make(Code::UInt, 16);
  case QOPT_DTYPE_U32:
    return make(Code::UInt, 32);
  case QOPT_DTYPE_U64:
    return make(Code::UInt, 64);
  case QOPT_DTYPE_BOOL:
    return make(Code::Bool, 8);
  default:
    return make(Code::UInt, 8);
  }
}

struct TensorFree {
  void operator()(qopt_tensor *t) const { qopt_tensor_free(t); }
};
using TensorPtr = std::unique_ptr<qopt_tensor, TensorFree>;

/// A numpy array that owns `t` (freed when the array is collected).
nb::object toNumpy(qopt_tensor *t) {
  nb::capsule owner(t, [](void *p) noexcept {
    qopt_tensor_free(static_cast<qopt_tensor *>(p));
  });
  int rank = qopt_tensor_rank(t);
  const int64_t *dims = qopt_tensor_dims(t);
  std::vector<size_t> shape(dims, dims + rank);
  nb::ndarray<nb::numpy> array(qopt_tensor_data(t), size_t(rank), shape.data(),
                               owner, /*strides=*/nullptr,
                               toDLPack(qopt_tensor_dtype(t)));
  return array.cast();
}

/// One input or output of a model as (name, dtype name, dims with -1 for a
/// dynamic dim, dim names).
using InfoTuple = std::tuple<std::string, std::string, std::vector<int64_t>,
                             std::vector<std::string>>;

InfoTuple describe(const qopt_tensor_info *info) {
  std::vector<int64_t> dims(info->dims, info->dims + info->rank);
  std::vector<std::string> names;
  for (int i = 0; i < info->rank; ++i)
    names.emplace_back(
        info->dim_names && info->dim_names[i] ? info->dim_names[i] : "");
  return {info->name, qopt_dtype_name(info->dtype), dims, names};
}

class Model {
public:
  explicit Model(const std::string &path) {
    if (qopt_model_load(path.c_str(), &model) != QOPT_OK)
      raise("LoadError", qopt_last_error());
    onGPU = std::string(qopt_model_target(model)) != "cpu";
  }
  ~Model() { qopt_model_free(model); }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  std::string target() const { return qopt_model_target(model); }
  std::string signature() const { return qopt_model_signature_text(model); }
  std::vector<InfoTuple> inputs() const {
    std::vector<InfoTuple> out;
    for (int i = 0, e = qopt_model_num_inputs(model); i < e; ++i)
      out.push_back(describe(qopt_model_input(model, i)));
    return out;
  }
  std::vector<InfoTuple> outputs() const {
    std::vector<InfoTuple> out;
    for (int i = 0, e = qopt_model_num_outputs(model); i < e; ++i)
      out.push_back(describe(qopt_model_output(model, i)));
    return out;
  }
  std::vector<std::string> adapters() const {
    std::vector<std::string> out;
    for (int i = 0, e = qopt_model_num_adapters(model); i < e; ++i)
      out.emplace_back(qopt_model_adapter(model, i));
    return out;
  }

  /// Runs on `arrays` (signature order); numpy arrays that own the results.
  std::vector<nb::object> run(const std::vector<InputArray> &arrays) {
    std::vector<TensorPtr> views = makeViews(arrays);
    std::vector<const qopt_tensor *> in(views.size());
    for (size_t i = 0; i < views.size(); ++i)
      in[i] = views[i].get();
    int numOut = qopt_model_num_outputs(model);
    std::vector<qopt_tensor *> out(numOut, nullptr);
    requireDevice();
    qopt_status status;
    std::string error, deviceError;
    {
      nb::gil_scoped_release release;
      if (onGPU)
        qopt_cuda_clear_error();
      status =
          qopt_model_run(model, in.data(), int(in.size()), out.data(), numOut);
      // Both messages are thread-local: read them on this thread.
      if (status != QOPT_OK)
        error = qopt_last_error();
      else if (onGPU)
        deviceError = qopt_cuda_last_error();
    }
    if (status != QOPT_OK || !deviceError.empty()) {
      for (qopt_tensor *t : out)
        qopt_tensor_free(t);
      if (status != QOPT_OK)
        raise("InputError", error);
      raise("RunError", "the CUDA run failed: " + deviceError);
    }
    std::vector<nb::object> results;
    for (size_t i = 0; i < out.size(); ++i) {
      qopt_tensor *t = out[i];
      out[i] = nullptr;
      try {
        results.push_back(toNumpy(t));
      } catch (...) {
        for (qopt_tensor *rest : out)
          qopt_tensor_free(rest);
        throw;
      }
    }
    return results;
  }

  /// qopt_cuda_graph_note() after the last run_device(graph=True).
  std::string graphNote() const { return lastGraphNote; }

  /// Runs a CUDA artifact on CUDA tensors (DLPack, signature order) with
  /// qopt_cuda_model_run after the work queued on `stream`; the results are
  /// DLPack tensors over new device buffers (freed with the tensors).
  std::vector<nb::object> runDevice(const std::vector<DeviceArray> &arrays,
                                    uintptr_t stream,
                                    const std::vector<OutArray> &given,
                                    bool graph) {
    if (!onGPU)
      raise("InputError", "run_device: the artifact runs on the CPU (target " +
                              target() + "); use run()");
    if (graph && given.empty())
      raise("InputError", "run_device: graph=True needs out= (a CUDA graph "
                          "writes into the output buffers it was captured "
                          "with)");
    for (size_t i = 0; i < arrays.size(); ++i) {
      int type = arrays[i].device_type();
      if (type != nb::device::cuda::value &&
          type != nb::device::cuda_managed::value &&
          type != nb::device::cuda_host::value)
        raise("InputError",
              std::string("run_device: input ") + std::to_string(i) +
                  " is not CUDA memory (DLPack device type " +
                  std::to_string(type) + "); use run() for host arrays");
    }
    std::vector<TensorPtr> views = makeViews(arrays);
    std::vector<const qopt_tensor *> in(views.size());
    for (size_t i = 0; i < views.size(); ++i)
      in[i] = views[i].get();
    int numOut = qopt_model_num_outputs(model);
    std::vector<qopt_tensor *> out(numOut, nullptr);
    // `given`: the caller's output buffers, written in place (views that
    // own nothing; they stay the caller's).
    if (!given.empty() && int(given.size()) != numOut)
      raise("InputError", "run_device: out= holds " +
                              std::to_string(given.size()) +
                              " tensors, the model has " +
                              std::to_string(numOut) + " outputs");
    std::vector<TensorPtr> outViews;
    for (size_t o = 0; o < given.size(); ++o) {
      const OutArray &a = given[o];
      const qopt_tensor_info *info = qopt_model_output(model, int(o));
      if (a.device_type() != nb::device::cuda::value &&
          a.device_type() != nb::device::cuda_managed::value)
        raise("InputError", std::string("run_device: out= for '") + info->name +
                                "' is not CUDA memory");
      std::vector<int64_t> dims(a.ndim());
      for (size_t d = 0; d < a.ndim(); ++d)
        dims[d] = int64_t(a.shape(d));
      qopt_dtype dtype = fromDLPack(a.dtype()) == storageDType(info->dtype)
                             ? info->dtype
                             : fromDLPack(a.dtype());
      qopt_tensor *t = nullptr;
      if (qopt_tensor_create_view(dtype, int(dims.size()), dims.data(),
                                  a.data(), nullptr, nullptr, &t) != QOPT_OK)
        raise("InputError", std::string("run_device: out= for '") + info->name +
                                "': " + qopt_last_error());
      outViews.emplace_back(t);
      out[o] = t;
    }
    requireDevice();
    qopt_status status;
    std::string error, deviceError;
    {
      nb::gil_scoped_release release;
      qopt_cuda_clear_error();
      status = graph
                   ? qopt_cuda_model_run_graph(model, in.data(), int(in.size()),
                                               out.data(), numOut,
                                               reinterpret_cast<void *>(stream))
                   : qopt_cuda_model_run(model, in.data(), int(in.size()),
                                         out.data(), numOut,
                                         reinterpret_cast<void *>(stream));
      if (graph)
        lastGraphNote = qopt_cuda_graph_note();
      if (status != QOPT_OK)
        error = qopt_last_error();
      else
        deviceError = qopt_cuda_last_error();
    }
    if (status != QOPT_OK || !deviceError.empty()) {
      for (size_t i = 0; i < out.size() && given.empty(); ++i)
        qopt_tensor_free(out[i]);
      if (status != QOPT_OK)
        raise("InputError", error);
      raise("RunError", "the CUDA run failed: " + deviceError);
    }
    std::vector<nb::object> results;
    if (!given.empty()) // written in place: the caller's tensors
      return results;
    for (size_t i = 0; i < out.size(); ++i) {
      qopt_tensor *t = out[i];
      out[i] = nullptr;
      nb::capsule owner(t, [](void *p) noexcept {
        qopt_tensor_free(static_cast<qopt_tensor *>(p));
      });
      int rank = qopt_tensor_rank(t);
      const int64_t *dims = qopt_tensor_dims(t);
      std::vector<size_t> shape(dims, dims + rank);
      nb::ndarray<> array(qopt_tensor_data(t), size_t(rank), shape.data(),
                          owner, /*strides=*/nullptr,
                          toDLPack(qopt_tensor_dtype(t)),
                          nb::device::cuda::value, /*device_id=*/0);
      results.push_back(array.cast());
    }
    return results;
  }

  /// Seconds of each of `runs` timed runs after `warmup` untimed ones, all
  /// without the GIL.
  std::vector<double> benchmark(const std::vector<InputArray> &arrays, int runs,
                                int warmup) {
    if (runs < 1 || warmup < 0)
      raise("InputError", "benchmark: runs must be >= 1 and warmup >= 0");
    std::vector<TensorPtr> views = makeViews(arrays);
    std::vector<const qopt_tensor *> in(views.size());
    for (size_t i = 0; i < views.size(); ++i)
      in[i] = views[i].get();
    int numOut = qopt_model_num_outputs(model);
    requireDevice();
    std::vector<double> times;
    std::string error;
    const char *errorClass = "InputError";
    {
      nb::gil_scoped_release release;
      std::vector<qopt_tensor *> out(numOut, nullptr);
      if (onGPU)
        qopt_cuda_clear_error();
      for (int r = 0; r < warmup + runs && error.empty(); ++r) {
        double start = qopt_now_seconds();
        qopt_status status = qopt_model_run(model, in.data(), int(in.size()),
                                            out.data(), numOut);
        double end = qopt_now_seconds();
        if (status != QOPT_OK) {
          error = qopt_last_error();
        } else if (onGPU && *qopt_cuda_last_error()) {
          error = std::string("the CUDA run failed: ") + qopt_cuda_last_error();
          errorClass = "RunError";
        }
        for (qopt_tensor *&t : out) {
          qopt_tensor_free(t);
          t = nullptr;
        }
        if (r >= warmup)
          times.push_back(end - start);
      }
    }
    if (!error.empty())
      raise(errorClass, error);
    return times;
  }

private:
  /// A GPU artifact needs a CUDA device: its mgpu* calls cannot return
  /// errors, so a run without one would return garbage.
  void requireDevice() {
    if (onGPU && !qopt_cuda_available())
      raise("RunError", "this artifact runs on a CUDA GPU (target " + target() +
                            "): " + qopt_cuda_last_error());
  }

  template <typename Array>
  std::vector<TensorPtr> makeViews(const std::vector<Array> &arrays) {
    int numIn = qopt_model_num_inputs(model);
    if (int(arrays.size()) != numIn)
      raise("InputError", "the model takes " + std::to_string(numIn) +
                              " inputs, got " + std::to_string(arrays.size()) +
                              "\nexpected signature:\n" + signature());
    std::vector<TensorPtr> views;
    for (int i = 0; i < numIn; ++i) {
      const Array &a = arrays[i];
      const qopt_tensor_info *info = qopt_model_input(model, i);
      qopt_dtype given = fromDLPack(a.dtype());
      // numpy has no int4, bfloat16, ...: their storage type stands in.
      qopt_dtype dtype =
          given != QOPT_DTYPE_INVALID && given == storageDType(info->dtype)
              ? info->dtype
              : given;
      if (dtype == QOPT_DTYPE_INVALID)
        raise("InputError", std::string("input '") + info->name +
                                "': unsupported array dtype\nexpected "
                                "signature:\n" +
                                signature());
      std::vector<int64_t> dims(a.ndim());
      for (size_t d = 0; d < a.ndim(); ++d)
        dims[d] = int64_t(a.shape(d));
      qopt_tensor *t = nullptr;
      // The array outlives the run (the caller holds it): no release.
      if (qopt_tensor_create_view(dtype, int(dims.size()), dims.data(),
                                  const_cast<void *>(a.data()), nullptr,
                                  nullptr, &t) != QOPT_OK)
        raise("InputError",
              std::string("input '") + info->name + "': " + qopt_last_error());
      views.emplace_back(t);
    }
    return views;
  }

  qopt_model *model = nullptr;
  bool onGPU = false;
  std::string lastGraphNote; ///< qopt_cuda_graph_note() of the last graph run
};

/// Artifacts resolve the runtime's functions (kernels, threads) from the
/// global symbol scope, but Python loads extensions and their libraries
/// with RTLD_LOCAL: promote libqopt_runtime to global scope once.
void exposeRuntimeSymbols() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&qopt_last_error), &info) &&
      info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "quant-opt's lean runtime (libqopt_runtime): load and run "
            "artifacts";
  exposeRuntimeSymbols();

  nb::class_<Model>(m, "Model")
      .def(nb::init<const std::string &>(), "path"_a,
           "Loads an artifact (a shared library written by quant-compile).")
      .def_prop_ro("target", &Model::target)
      .def_prop_ro("signature", &Model::signature)
      .def("inputs", &Model::inputs)
      .def("outputs", &Model::outputs)
      .def("adapters", &Model::adapters)
      .def("run", &Model::run, "inputs"_a,
           "Runs the model on arrays in signature order (views, no copy).")
      .def("run_device", &Model::runDevice, "inputs"_a, "stream"_a = 0,
           "out"_a = std::vector<OutArray>(), "graph"_a = false,
           "Runs a CUDA artifact on CUDA DLPack tensors in signature order "
           "(no host transfers), after the work queued on `stream`; DLPack "
           "tensors over device buffers come back, or with `out` (CUDA "
           "tensors, one per output) the results are written there; `graph` "
           "(with `out`): through a CUDA graph (qopt_cuda_model_run_graph).")
      .def_prop_ro("graph_note", &Model::graphNote,
                   "What the last run_device(graph=True) did (warm-up, "
                   "captured, replayed, not captured: why).")
      .def("benchmark", &Model::benchmark, "inputs"_a, "runs"_a, "warmup"_a,
           "Seconds of each timed run.");

  m.def("runtime_path", [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&qopt_last_error), &info) &&
        info.dli_fname)
      return std::string(info.dli_fname);
    return std::string();
  });
  m.def("kernel_isa", [] { return std::string(qopt_kernel_isa()); });
  m.def("kernel_isa_int8", [] { return std::string(qopt_kernel_isa_int8()); });
  m.def(
      "set_num_threads",
      [](int n) {
        if (qopt_set_num_threads(n) != QOPT_OK)
          raise("Error", qopt_last_error());
      },
      "num_threads"_a);
  m.def("get_num_threads", [] { return qopt_get_num_threads(); });
}
