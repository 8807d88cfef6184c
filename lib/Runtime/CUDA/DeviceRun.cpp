//===- DeviceRun.cpp - compiled CUDA artifacts on device-resident tensors -===//
//
// qopt_cuda_model_run (qopt_cuda.h): a call of an NVPTX artifact whose
// inputs and outputs stay in GPU memory the caller owns. The artifact
// returns each result through qopt_cuda_result(index, bytes) (quant-compile
// emits the call, qopt-gpu-managed-memory's result-hook): in an ordinary
// qopt_model_run that is host memory (qopt_rt_malloc) the result is
// staged into; in a device run it is the caller's device buffer (or a new
// one), written by a device-to-device copy on the call's stream. The
// inputs are read where they are (the artifact's first copy of each is a
// device-to-device copy). The call's stream starts after the work the
// caller queued on its own stream; the call returns when its work is done.
//
//===----------------------------------------------------------------------===//

#include "CUDA/Driver.h"
#include "RuntimeInternal.h"

#include "qopt/Runtime/qopt_cuda.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

extern "C" [[noreturn]] void qopt_rt_fail(const char *message);
extern "C" void *qopt_rt_malloc(uint64_t size);
extern "C" void mgpuStreamDestroy(qopt::rt::cuda::CUstream stream);
extern "C" void mgpuMemFree(void *ptr, qopt::rt::cuda::CUstream stream);

using namespace qopt::rt::cuda;

namespace {

struct DeviceRun {
  std::vector<void *> given;      ///< caller buffers (null: allocate one)
  std::vector<size_t> givenBytes; ///< their byte sizes
  std::vector<void *> results;    ///< what qopt_cuda_result handed out
  std::vector<bool> hooked;       ///< whether the artifact asked for it
  std::vector<void *> allocated;  ///< device buffers allocated here
  CUstream callerStream = nullptr;
  CUevent joined = nullptr; ///< recorded on callerStream, once a call
};

thread_local DeviceRun *activeRun = nullptr;

/// CU_MEMORYTYPE_* of `p`, or 0 for ordinary (pageable) host memory.
unsigned memoryType(const void *p) {
  unsigned type = 0;
  if (driver().cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                     dptr(p)) != CUDA_SUCCESS)
    return 0;
  return type;
}
constexpr unsigned kMemoryTypeDevice = 2;

void freeDeviceBuffer(void *p) {
  if (p)
    qopt_cuda_free(p);
}

//===----------------------------------------------------------------------===//
// CUDA graphs of calls (qopt_cuda_model_run_graph)
//===----------------------------------------------------------------------===//

/// What a graph is keyed by: every input's and output's address, dtype and
/// shape (the graph's copies and kernels have them built in).
using GraphKey = std::vector<int64_t>;

/// One key's graph: after the first (warm-up, probed) call `probed`; after
/// the second, captured (`exec`) or refused (`unsupported`).
struct GraphEntry {
  GraphKey key;
  bool probed = false;
  std::string unsupported;
  CUgraphExec exec = nullptr;
  CUstream stream = nullptr; ///< the captured stream, kept
  std::vector<void *> owned; ///< the buffers its kernels use
  std::vector<std::vector<int64_t>> outputDims;
  std::mutex replay; ///< one replay at a time
  ~GraphEntry();
};

/// Releases what a capture kept: the executable graph, its buffers (back to
/// the pool) and its stream.
void releaseCapture(CUgraphExec exec, CUstream stream,
                    std::vector<void *> &owned) {
  if (!driver().ok)
    return;
  ScopedContext ctx("qopt_cuda_model_run_graph", false);
  if (!ctx)
    return;
  if (exec)
    driver().cuGraphExecDestroy(exec);
  if (stream)
    driver().cuStreamSynchronize(stream);
  for (void *p : owned)
    mgpuMemFree(p, nullptr);
  owned.clear();
  if (stream)
    mgpuStreamDestroy(stream);
}

GraphEntry::~GraphEntry() { releaseCapture(exec, stream, owned); }

/// At most this many graphs a model (the oldest goes first).
constexpr size_t kGraphsPerModel = 8;

struct GraphCache {
  std::mutex mutex;
  std::map<const qopt_model *, std::vector<std::shared_ptr<GraphEntry>>>
      byModel;
};
GraphCache &graphCache() {
  static GraphCache *c = new GraphCache; // used from atexit paths
  return *c;
}

thread_local std::string graphNote;

} // namespace

void qopt::rt::cuda::forgetModelGraphs(const qopt_model *model) {
  std::vector<std::shared_ptr<GraphEntry>> drop;
  {
    GraphCache &c = graphCache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.byModel.find(model);
    if (it == c.byModel.end())
      return;
    drop = std::move(it->second);
    c.byModel.erase(it);
  }
}

void qopt::rt::cuda::joinCallerStream(CUstream stream) {
  DeviceRun *run = activeRun;
  if (!run || !stream || stream == run->callerStream)
    return;
  const Driver &d = driver();
  if (!run->joined) {
    if (!QOPT_CHECK("qopt_cuda_model_run", true,
                    d.cuEventCreate(&run->joined, CU_EVENT_DISABLE_TIMING)) ||
        !QOPT_CHECK("qopt_cuda_model_run", true,
                    d.cuEventRecord(run->joined, run->callerStream)))
      return;
  }
  QOPT_CHECK("qopt_cuda_model_run", true,
             d.cuStreamWaitEvent(stream, run->joined, 0));
}

extern "C" {

/// Called by compiled NVPTX artifacts for their result `index`: where to
/// copy its `bytes` bytes.
int64_t qopt_cuda_result(int64_t index, int64_t bytes) {
  DeviceRun *run = activeRun;
  if (!run)
    return reinterpret_cast<int64_t>(
        qopt_rt_malloc(static_cast<uint64_t>(bytes)));
  std::string error;
  void *out = nullptr;
  if (index < 0 || size_t(index) >= run->given.size()) {
    error = "qopt_cuda_result: the artifact returns more results than its "
            "signature lists (" +
            std::to_string(index) + ")";
  } else if (run->given[index]) {
    if (run->givenBytes[index] != size_t(bytes))
      error = "qopt_cuda_model_run: output " + std::to_string(index) +
              ": the given buffer holds " +
              std::to_string(run->givenBytes[index]) +
              " bytes, the result has " + std::to_string(bytes);
    else
      out = run->given[index];
  } else if (bytes > 0) {
    ScopedContext ctx("qopt_cuda_model_run", false);
    CUdeviceptr p = 0;
    if (!ctx || !QOPT_CHECK("qopt_cuda_model_run", false,
                            driver().cuMemAlloc(&p, size_t(bytes))))
      error = cudaError;
    else
      run->allocated.push_back(out = reinterpret_cast<void *>(p));
  }
  if (!error.empty()) {
    // No C++ object of this frame outlives the jump but `error`'s buffer.
    static thread_local std::string message;
    message = std::move(error);
    qopt_rt_fail(message.c_str());
  }
  run->results[index] = out;
  run->hooked[index] = true;
  return reinterpret_cast<int64_t>(out);
}

static qopt_status deviceRun(qopt_model *model,
                             const qopt_tensor *const *inputs, int num_inputs,
                             qopt_tensor **outputs, int num_outputs,
                             void *stream, bool graph) {
  using qopt::rt::fail;
  if (!model)
    return fail("qopt_cuda_model_run: null model");
  if (std::strcmp(qopt_model_target(model), "cuda") != 0)
    return fail(std::string("qopt_cuda_model_run: the artifact was compiled "
                            "for target '") +
                qopt_model_target(model) +
                "', not 'cuda' (quant-compile --target=nvptx)");
  if (num_outputs != qopt_model_num_outputs(model) ||
      num_inputs != qopt_model_num_inputs(model))
    return fail(
        "qopt_cuda_model_run: the model takes " +
        std::to_string(qopt_model_num_inputs(model)) + " inputs and has " +
        std::to_string(qopt_model_num_outputs(model)) + " outputs, got " +
        std::to_string(num_inputs) + " and " + std::to_string(num_outputs) +
        "\nexpected signature:\n" + qopt_model_signature_text(model));
  if ((num_outputs > 0 && !outputs) || (num_inputs > 0 && !inputs))
    return fail("qopt_cuda_model_run: null inputs or outputs array");
  if (!qopt_cuda_available())
    return fail(std::string("qopt_cuda_model_run: ") + qopt_cuda_last_error());
  if (activeRun)
    return fail("qopt_cuda_model_run: called from inside a device run");

  // Inputs: any memory the GPU reads (device, managed, pinned); bool
  // inputs are normalized by the host (qopt_model_run), so not device ones.
  std::set<const void *> inputData;
  for (int i = 0; i < num_inputs; ++i) {
    const qopt_tensor *t = inputs[i];
    if (!t)
      continue; // qopt_model_run names the missing input
    const char *name = qopt_model_input(model, i)->name;
    if (qopt_tensor_byte_size(t) == 0)
      continue;
    unsigned type = memoryType(t->data);
    if (type == 0)
      return fail(std::string("qopt_cuda_model_run: input '") + name +
                  "' is in ordinary host memory; give a device (or "
                  "managed / pinned) buffer, or run it with qopt_model_run");
    if (t->dtype == QOPT_DTYPE_BOOL && type == kMemoryTypeDevice)
      return fail(std::string("qopt_cuda_model_run: input '") + name +
                  "': bool inputs in device memory are not supported (the "
                  "host normalizes bool bytes); use qopt_model_run");
    inputData.insert(t->data);
  }
  DeviceRun run;
  run.callerStream = static_cast<CUstream>(stream);
  run.given.assign(size_t(num_outputs), nullptr);
  run.givenBytes.assign(size_t(num_outputs), 0);
  run.results.assign(size_t(num_outputs), nullptr);
  run.hooked.assign(size_t(num_outputs), false);
  std::set<const void *> givenData;
  for (int o = 0; o < num_outputs; ++o) {
    qopt_tensor *t = outputs[o];
    if (!t)
      continue;
    const qopt_tensor_info *info = qopt_model_output(model, o);
    std::string what =
        std::string("qopt_cuda_model_run: output '") + info->name + "': ";
    if (t->dtype != info->dtype)
      return fail(what + "the given tensor is " + qopt_dtype_name(t->dtype) +
                  ", the output " + qopt_dtype_name(info->dtype));
    size_t bytes = qopt_tensor_byte_size(t);
    if (bytes > 0) {
      if (memoryType(t->data) == 0)
        return fail(what + "the given tensor is in ordinary host memory");
      if (inputData.count(t->data) || !givenData.insert(t->data).second)
        return fail(what + "the given buffer is also an input or another "
                           "output");
    }
    run.given[o] = t->data;
    run.givenBytes[o] = bytes;
  }

  std::vector<qopt_tensor *> results(size_t(num_outputs), nullptr);

  // CUDA graph: the entry of this key, or why none is used.
  std::shared_ptr<GraphEntry> entry;
  if (graph) {
    const Driver &d = driver();
    GraphKey key;
    bool given = true;
    for (int i = 0; i < num_inputs; ++i) {
      const qopt_tensor *t = inputs[i];
      key.push_back(t ? reinterpret_cast<int64_t>(t->data) : 0);
      key.push_back(t ? int64_t(t->dtype) : -1);
      key.push_back(t ? int64_t(t->dims.size()) : -1);
      if (t)
        key.insert(key.end(), t->dims.begin(), t->dims.end());
    }
    for (int o = 0; o < num_outputs; ++o) {
      const qopt_tensor *t = outputs[o];
      given &= t != nullptr;
      key.push_back(t ? reinterpret_cast<int64_t>(t->data) : 0);
      key.push_back(t ? int64_t(t->dims.size()) : -1);
      if (t)
        key.insert(key.end(), t->dims.begin(), t->dims.end());
    }
    if (!d.cuStreamBeginCapture || !d.cuStreamEndCapture ||
        !d.cuGraphInstantiateWithFlags || !d.cuGraphLaunch ||
        !d.cuGraphExecDestroy || !d.cuGraphDestroy)
      graphNote = "not captured: the CUDA driver lacks the graph functions "
                  "(cuGraphInstantiateWithFlags needs CUDA 11.4)";
    else if (!given)
      graphNote = "not captured: every output buffer must be given (a graph "
                  "writes into the buffers of its capture)";
    else if (profilingKernels() || syncEachLaunch())
      graphNote = "not captured: QOPT_CUDA_PROFILE / QOPT_CUDA_SYNC time or "
                  "synchronize every launch";
    else {
      GraphCache &c = graphCache();
      std::lock_guard<std::mutex> lock(c.mutex);
      auto &list = c.byModel[model];
      for (auto &e : list)
        if (e->key == key)
          entry = e;
      if (!entry) {
        entry = std::make_shared<GraphEntry>();
        entry->key = std::move(key);
        if (list.size() >= kGraphsPerModel)
          list.erase(list.begin());
        list.push_back(entry);
      }
    }
  }

  // One call of a key at a time: its warm-up, capture or replay.
  std::unique_lock<std::mutex> entryLock;
  if (entry)
    entryLock = std::unique_lock<std::mutex>(entry->replay);
  // A replay: the captured work on the caller's stream.
  if (entry && entry->exec) {
    ScopedContext ctx("qopt_cuda_model_run_graph", false);
    if (!ctx)
      return fail(std::string("qopt_cuda_model_run_graph: ") + cudaError);
    const Driver &d = driver();
    CUresult r = d.cuGraphLaunch(entry->exec, run.callerStream);
    if (r == CUDA_SUCCESS)
      r = d.cuStreamSynchronize(run.callerStream);
    if (r != CUDA_SUCCESS)
      return fail("qopt_cuda_model_run_graph: the replayed graph failed: " +
                  describe(r));
    graphNote = "replayed";
    return QOPT_OK;
  }

  GraphCapture capture;
  capture.callerStream = run.callerStream;
  if (entry) {
    if (!entry->unsupported.empty())
      graphNote = "not captured: " + entry->unsupported;
    else
      capture.capture = entry->probed;
  }
  auto runOnce = [&](GraphCapture *g) {
    activeRun = &run;
    graphCapture = g;
    qopt_status s =
        qopt_model_run(model, inputs, num_inputs, results.data(), num_outputs);
    graphCapture = nullptr;
    activeRun = nullptr;
    if (run.joined)
      driver().cuEventDestroy(run.joined);
    run.joined = nullptr;
    return s;
  };
  qopt_status status =
      runOnce(entry && entry->unsupported.empty() ? &capture : nullptr);
  if (entry && entry->unsupported.empty()) {
    if (status != QOPT_OK && capture.unsupported.empty())
      capture.note(std::string("the call failed: ") + qopt_last_error());
    if (capture.stream && capture.capture && !capture.synced &&
        driver().cuStreamEndCapture) {
      CUgraph g = nullptr; // the call stopped mid-capture
      driver().cuStreamEndCapture(capture.stream, &g);
      if (g)
        driver().cuGraphDestroy(g);
    }
    if (!capture.capture && status != QOPT_OK) {
      graphNote.clear(); // failed: the next call warms up again
    } else if (!capture.capture) {
      // The warm-up call: it ran normally and told what a graph would miss.
      entry->probed = true;
      entry->unsupported = capture.unsupported;
      graphNote = capture.unsupported.empty()
                      ? "warm-up (the next call with these buffers captures)"
                      : "not captured: " + capture.unsupported;
    } else if (capture.unsupported.empty() && capture.exec) {
      entry->exec = capture.exec;
      entry->stream = capture.stream;
      entry->owned = std::move(capture.owned);
      graphNote = "captured";
    } else {
      // Not capturable after all: dropped, and the call runs again as
      // usual (the captured work never ran, or ran and is redone).
      entry->unsupported = capture.unsupported.empty()
                               ? std::string("the capture produced no graph")
                               : capture.unsupported;
      graphNote = "not captured: " + entry->unsupported;
      releaseCapture(capture.exec, capture.stream, capture.owned);
      for (int o = 0; o < num_outputs; ++o)
        if (qopt_tensor *r = results[o]) {
          if (run.hooked[o] && r->base == run.results[o])
            r->base = nullptr; // the caller's buffer
          qopt_tensor_free(r);
          results[o] = nullptr;
        }
      std::fill(run.results.begin(), run.results.end(), nullptr);
      std::fill(run.hooked.begin(), run.hooked.end(), false);
      qopt_cuda_clear_error(); // what the capture attempt reported
      status = runOnce(nullptr);
    }
  }
  std::string error = status == QOPT_OK ? "" : qopt_last_error();

  auto shape = [](const std::vector<int64_t> &dims) {
    std::string s = "[";
    for (size_t i = 0; i < dims.size(); ++i)
      s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
  };
  for (int o = 0; o < num_outputs && error.empty(); ++o) {
    qopt_tensor *r = results[o];
    if (!r)
      continue;
    const std::string name = qopt_model_output(model, o)->name;
    const size_t bytes = qopt_tensor_byte_size(r);
    if (outputs[o] && outputs[o]->dims != r->dims) {
      error = "qopt_cuda_model_run: output '" + name +
              "': the given tensor has shape " + shape(outputs[o]->dims) +
              ", the result " + shape(r->dims);
    } else if (bytes == 0) {
      // Empty: nothing on either side (a host tensor of no elements).
    } else if (!run.hooked[o]) {
      // An artifact compiled before qopt_cuda_result: its host result is
      // uploaded.
      void *dst = run.given[o];
      if (!dst && qopt_cuda_malloc(bytes, &dst) == QOPT_OK)
        run.allocated.push_back(dst);
      if (!dst || qopt_cuda_copy_to_device(dst, r->data, bytes) != QOPT_OK) {
        error =
            "qopt_cuda_model_run: output '" + name + "': " + qopt_last_error();
        break;
      }
      auto *t = new qopt_tensor;
      t->dtype = r->dtype;
      t->dims = r->dims;
      t->data = dst;
      qopt_tensor_free(r);
      results[o] = t;
    } else if (r->base == run.results[o] && r->data == run.results[o]) {
      // The buffer qopt_cuda_result gave: the tensor must not free() it.
      r->base = nullptr;
      r->release = nullptr;
    } else {
      error = "qopt_cuda_model_run: output '" + name +
              "' is not in the buffer the artifact asked for";
    }
  }
  if (!error.empty()) {
    for (int o = 0; o < num_outputs; ++o)
      if (qopt_tensor *r = results[o]) {
        if (run.hooked[o] && r->base == run.results[o])
          r->base = nullptr; // freed below or the caller's
        qopt_tensor_free(r);
      }
    for (void *p : run.allocated)
      freeDeviceBuffer(p);
    return fail(error);
  }
  for (int o = 0; o < num_outputs; ++o) {
    qopt_tensor *r = results[o];
    if (outputs[o]) { // written in place
      qopt_tensor_free(r);
      continue;
    }
    // A buffer allocated here: the tensor frees it (qopt_cuda_free).
    if (r && r->data && !r->base && qopt_tensor_byte_size(r) > 0) {
      r->base = r->data;
      r->release = freeDeviceBuffer;
    }
    outputs[o] = r;
  }
  return QOPT_OK;
}

qopt_status qopt_cuda_model_run(qopt_model *model,
                                const qopt_tensor *const *inputs,
                                int num_inputs, qopt_tensor **outputs,
                                int num_outputs, void *stream) {
  return deviceRun(model, inputs, num_inputs, outputs, num_outputs, stream,
                   false);
}

qopt_status qopt_cuda_model_run_graph(qopt_model *model,
                                      const qopt_tensor *const *inputs,
                                      int num_inputs, qopt_tensor **outputs,
                                      int num_outputs, void *stream) {
  graphNote.clear();
  return deviceRun(model, inputs, num_inputs, outputs, num_outputs, stream,
                   true);
}

const char *qopt_cuda_graph_note(void) { return graphNote.c_str(); }

} // extern "C"
