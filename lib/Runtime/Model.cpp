//===- Model.cpp - load and run artifacts ---------------------------------===//
//
// An artifact is a shared library exporting `qopt_artifact_signature` (text,
// see qopt-export-signature) and `void qopt_artifact_main(void **args)`:
// args[0] points at the result memref descriptors (when there are outputs),
// args[1 + i] at input i's descriptor. A rank-r descriptor is
// {allocated, aligned, offset, sizes[r], strides[r]}, 8 bytes each.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"
#include "Threads.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

using namespace qopt::rt;

namespace {

struct Item {
  std::string name;
  qopt_dtype dtype = QOPT_DTYPE_INVALID;
  std::vector<int64_t> dims;
  std::vector<std::string> dimNames;
  std::vector<const char *> dimNamePtrs;
  qopt_tensor_info info{};
};

size_t descriptorBytes(size_t rank) { return 8 * (3 + 2 * rank); }

} // namespace

struct qopt_model {
  void *handle = nullptr; // dlopen handle, null for in-memory code
  void (*entry)(void **) = nullptr;
  std::string target = "cpu";
  int defaultThreads = 0;
  std::vector<Item> inputs, outputs;
  /// Switched LoRA adapters, in index order (the `qopt_adapter` input).
  std::vector<std::string> adapters;
  std::string signatureText;

  /// Profiling (quant-compile --profile): region kinds and node names from
  /// @qopt_profile_names, and the times of the profiled runs so far.
  std::vector<std::string> profileKinds, profileNodes;
  bool profiling = false;
  std::mutex profileMutex;
  std::vector<double> profileSeconds;
  std::vector<int64_t> profileCalls;
  double profileRunSeconds = 0;
  int64_t profileRuns = 0;

  /// The memory plan's arenas not in use by a run (one per concurrent run
  /// seen so far), and how many there are in all.
  std::mutex arenaMutex;
  std::vector<std::unique_ptr<Arena>> freeArenas;
  int numArenas = 0;

  std::unique_ptr<Arena> takeArena() {
    std::lock_guard<std::mutex> lock(arenaMutex);
    if (freeArenas.empty()) {
      ++numArenas;
      return std::make_unique<Arena>();
    }
    std::unique_ptr<Arena> a = std::move(freeArenas.back());
    freeArenas.pop_back();
    return a;
  }
  void giveArena(std::unique_ptr<Arena> a) {
    std::lock_guard<std::mutex> lock(arenaMutex);
    freeArenas.push_back(std::move(a));
  }

  /// Reads the table of profiled regions ("kind\tnodes" entries, each
  /// NUL-terminated, an empty one last).
  void readProfileNames(const char *table) {
    for (const char *p = table; p && *p; p += std::strlen(p) + 1) {
      std::string entry = p;
      size_t tab = entry.find('\t');
      profileKinds.push_back(entry.substr(0, tab));
      profileNodes.push_back(tab == std::string::npos ? ""
                                                      : entry.substr(tab + 1));
    }
    profileSeconds.assign(profileKinds.size(), 0);
    profileCalls.assign(profileKinds.size(), 0);
  }

  ~qopt_model() {
    if (handle) {
      qopt::rt::forgetCudaConstants(handle);
      dlclose(handle);
    }
  }

  qopt_status parse(const char *text, const std::string &where);
  std::string describeItem(const Item &item, const char *kind) const;
};

static bool isHexByte(const std::string &s, size_t i) {
  return i + 1 < s.size() && std::isxdigit((unsigned char)s[i]) &&
         std::isxdigit((unsigned char)s[i + 1]);
}

/// Decodes %XX escapes; a malformed escape is kept as written.
static std::string decodeName(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && isHexByte(s, i + 1)) {
      out.push_back(char(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// "float32[batch,16]": the type an item expects.
static std::string describeType(const Item &item) {
  std::ostringstream os;
  os << qopt_dtype_name(item.dtype) << "[";
  for (size_t i = 0; i < item.dims.size(); ++i) {
    os << (i ? "," : "");
    if (item.dims[i] >= 0)
      os << item.dims[i];
    else
      os << (item.dimNames[i].empty() ? "?" : item.dimNames[i]);
  }
  os << "]";
  return os.str();
}

std::string qopt_model::describeItem(const Item &item, const char *kind) const {
  return std::string(kind) + " " + item.name + ": " + describeType(item);
}

qopt_status qopt_model::parse(const char *text, const std::string &where) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != "qopt-artifact 1")
    return fail(where +
                ": not a quant-opt artifact of ABI version 1 (its "
                "signature starts with '" +
                line.substr(0, 40) + "')");
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    if (key == "target" || key == "entry") {
      std::string v;
      ls >> v;
      if (key == "target")
        target = v;
      continue;
    }
    if (key == "threads") {
      ls >> defaultThreads;
      continue;
    }
    if (key == "adapter") {
      std::string name;
      if (!(ls >> name))
        return fail(where + ": malformed signature line '" + line + "'");
      adapters.push_back(decodeName(name));
      continue;
    }
    if (key != "input" && key != "output")
      continue; // later ABI additions; ignore
    Item item;
    std::string name, dtype;
    int64_t rank = -1;
    ls >> name >> dtype >> rank;
    item.name = decodeName(name);
    item.dtype = qopt_dtype_from_name(dtype.c_str());
    if (!ls || item.dtype == QOPT_DTYPE_INVALID || rank < 0 ||
        rank > QOPT_MAX_RANK)
      return fail(where + ": malformed signature line '" + line + "'");
    for (int64_t i = 0; i < rank; ++i) {
      std::string d;
      if (!(ls >> d))
        return fail(where + ": malformed signature line '" + line + "'");
      if (d[0] == '?') {
        item.dims.push_back(-1);
        item.dimNames.push_back(decodeName(d.substr(1)));
      } else {
        char *end = nullptr;
        long long v = std::strtoll(d.c_str(), &end, 10);
        if (*end || v < 0)
          return fail(where + ": malformed signature line '" + line + "'");
        item.dims.push_back(v);
        item.dimNames.push_back("");
      }
    }
    (key == "input" ? inputs : outputs).push_back(std::move(item));
  }
  // Pointers into the items are taken once the vectors no longer move.
  for (auto *items : {&inputs, &outputs})
    for (Item &item : *items) {
      for (const std::string &n : item.dimNames)
        item.dimNamePtrs.push_back(n.c_str());
      item.info = {item.name.c_str(), item.dtype, int(item.dims.size()),
                   item.dims.data(), item.dimNamePtrs.data()};
    }
  std::ostringstream os;
  for (const Item &item : inputs)
    os << "  " << describeItem(item, "input ") << "\n";
  for (const Item &item : outputs)
    os << "  " << describeItem(item, "output") << "\n";
  for (size_t i = 0; i < adapters.size(); ++i)
    os << "  adapter " << adapters[i] << " (qopt_adapter = " << i << ")\n";
  signatureText = os.str();
  return QOPT_OK;
}

extern "C" {

qopt_status qopt_model_create(const char *signature, void (*entry)(void **),
                              qopt_model **out) {
  if (!out || !signature || !entry)
    return fail("qopt_model_create: null argument");
  *out = nullptr;
  auto model = std::make_unique<qopt_model>();
  model->entry = entry;
  if (model->parse(signature, "in-memory artifact") != QOPT_OK)
    return QOPT_ERROR;
  *out = model.release();
  return QOPT_OK;
}

qopt_status qopt_model_load(const char *path, qopt_model **out) {
  if (!out || !path)
    return fail("qopt_model_load: null argument");
  *out = nullptr;
  // A bare file name is a file here, not a library for dlopen to search
  // for on the system's library path.
  std::string file = path;
  if (file.find('/') == std::string::npos)
    file = "./" + file;
  // RTLD_LOCAL: two artifacts define the same symbols.
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return fail(std::string("cannot load artifact '") + path +
                "': " + dlerror());
  auto model = std::make_unique<qopt_model>();
  model->handle = handle;
  auto *sig =
      static_cast<const char *>(dlsym(handle, "qopt_artifact_signature"));
  model->entry =
      reinterpret_cast<void (*)(void **)>(dlsym(handle, "qopt_artifact_main"));
  if (!sig || !model->entry)
    return fail(std::string(path) +
                ": not a quant-opt artifact (no qopt_artifact_signature / "
                "qopt_artifact_main; compile it with quant-compile)");
  if (model->parse(sig, path) != QOPT_OK)
    return QOPT_ERROR;
  model->readProfileNames(
      static_cast<const char *>(dlsym(handle, "qopt_profile_names")));
  *out = model.release();
  return QOPT_OK;
}

void qopt_model_free(qopt_model *model) {
  if (!model)
    return;
  // Packed constants are keyed by address, which the next artifact loaded
  // may reuse.
  qopt::rt::clearKernelCaches();
  qopt::rt::cuda::forgetModelGraphs(model);
  delete model;
}

// The getters answer a null model with an empty value (and an error
// message) rather than a crash.
static bool nullModel(const qopt_model *m, const char *fn) {
  if (!m)
    fail(std::string(fn) + ": null model");
  return !m;
}
const char *qopt_model_target(const qopt_model *m) {
  return nullModel(m, "qopt_model_target") ? "" : m->target.c_str();
}
int qopt_model_num_adapters(const qopt_model *m) {
  return nullModel(m, "qopt_model_num_adapters") ? -1 : int(m->adapters.size());
}
const char *qopt_model_adapter(const qopt_model *m, int i) {
  if (nullModel(m, "qopt_model_adapter"))
    return nullptr;
  return i >= 0 && size_t(i) < m->adapters.size() ? m->adapters[i].c_str()
                                                  : nullptr;
}
int qopt_model_find_adapter(const qopt_model *m, const char *name) {
  if (nullModel(m, "qopt_model_find_adapter"))
    return -1;
  for (size_t i = 0; name && i < m->adapters.size(); ++i)
    if (m->adapters[i] == name)
      return int(i);
  return -1;
}
int qopt_model_num_inputs(const qopt_model *m) {
  return nullModel(m, "qopt_model_num_inputs") ? -1 : int(m->inputs.size());
}
int qopt_model_num_outputs(const qopt_model *m) {
  return nullModel(m, "qopt_model_num_outputs") ? -1 : int(m->outputs.size());
}
const qopt_tensor_info *qopt_model_input(const qopt_model *m, int i) {
  if (nullModel(m, "qopt_model_input"))
    return nullptr;
  return i >= 0 && size_t(i) < m->inputs.size() ? &m->inputs[i].info : nullptr;
}
const qopt_tensor_info *qopt_model_output(const qopt_model *m, int i) {
  if (nullModel(m, "qopt_model_output"))
    return nullptr;
  return i >= 0 && size_t(i) < m->outputs.size() ? &m->outputs[i].info
                                                 : nullptr;
}
int qopt_model_find_input(const qopt_model *m, const char *name) {
  if (nullModel(m, "qopt_model_find_input"))
    return -1;
  for (size_t i = 0; i < m->inputs.size(); ++i)
    if (name && m->inputs[i].name == name)
      return int(i);
  return -1;
}
const char *qopt_model_signature_text(const qopt_model *m) {
  return nullModel(m, "qopt_model_signature_text") ? ""
                                                   : m->signatureText.c_str();
}

int qopt_model_has_profile(const qopt_model *m) {
  return nullModel(m, "qopt_model_has_profile") ? 0 : !m->profileKinds.empty();
}

qopt_status qopt_model_set_profiling(qopt_model *m, int enabled) {
  if (nullModel(m, "qopt_model_set_profiling"))
    return QOPT_ERROR;
  if (enabled && m->profileKinds.empty())
    return fail("the artifact has no profiling code (compile it with "
                "quant-compile --profile)");
  m->profiling = enabled != 0;
  return QOPT_OK;
}

void qopt_model_profile_reset(qopt_model *m) {
  if (nullModel(m, "qopt_model_profile_reset"))
    return;
  std::lock_guard<std::mutex> lock(m->profileMutex);
  std::fill(m->profileSeconds.begin(), m->profileSeconds.end(), 0.0);
  std::fill(m->profileCalls.begin(), m->profileCalls.end(), 0);
  m->profileRunSeconds = 0;
  m->profileRuns = 0;
}

int qopt_model_profile_size(const qopt_model *m) {
  return nullModel(m, "qopt_model_profile_size") ? 0
                                                 : int(m->profileKinds.size());
}

qopt_status qopt_model_profile_entry(const qopt_model *m, int i,
                                     const char **kind, const char **nodes,
                                     int64_t *calls, double *seconds) {
  if (nullModel(m, "qopt_model_profile_entry"))
    return QOPT_ERROR;
  if (i < 0 || size_t(i) >= m->profileKinds.size())
    return fail("qopt_model_profile_entry: no region " + std::to_string(i) +
                " (the artifact has " + std::to_string(m->profileKinds.size()) +
                ")");
  auto *model = const_cast<qopt_model *>(m);
  std::lock_guard<std::mutex> lock(model->profileMutex);
  if (kind)
    *kind = m->profileKinds[i].c_str();
  if (nodes)
    *nodes = m->profileNodes[i].c_str();
  if (calls)
    *calls = m->profileCalls[i];
  if (seconds)
    *seconds = m->profileSeconds[i];
  return QOPT_OK;
}

double qopt_model_profile_run_seconds(const qopt_model *m, int64_t *runs) {
  if (nullModel(m, "qopt_model_profile_run_seconds"))
    return 0;
  auto *model = const_cast<qopt_model *>(m);
  std::lock_guard<std::mutex> lock(model->profileMutex);
  if (runs)
    *runs = m->profileRuns;
  return m->profileRunSeconds;
}

uint64_t qopt_model_arena_bytes(const qopt_model *m, int *numArenas) {
  if (nullModel(m, "qopt_model_arena_bytes"))
    return 0;
  auto *model = const_cast<qopt_model *>(m);
  std::lock_guard<std::mutex> lock(model->arenaMutex);
  uint64_t bytes = 0;
  for (const auto &a : model->freeArenas)
    bytes = std::max(bytes, a->bytes);
  if (numArenas)
    *numArenas = model->numArenas;
  return bytes;
}

qopt_status qopt_model_run(qopt_model *model, const qopt_tensor *const *inputs,
                           int numInputs, qopt_tensor **outputs,
                           int numOutputs) {
  if (!model)
    return fail("qopt_model_run: null model");
  auto mismatch = [&](const std::string &what) {
    return fail(what + "\nexpected signature:\n" + model->signatureText);
  };
  if (size_t(numInputs) != model->inputs.size())
    return mismatch("the model takes " + std::to_string(model->inputs.size()) +
                    " inputs, got " + std::to_string(numInputs));
  if (size_t(numOutputs) != model->outputs.size())
    return mismatch("the model has " + std::to_string(model->outputs.size()) +
                    " outputs, room for " + std::to_string(numOutputs) +
                    " was given");
  if (numOutputs > 0 && !outputs)
    return fail("qopt_model_run: null outputs array");

  // Check every input; bind the named dynamic dims.
  std::map<std::string, int64_t> bound;
  for (size_t i = 0; i < model->inputs.size(); ++i) {
    const Item &item = model->inputs[i];
    const qopt_tensor *t = inputs ? inputs[i] : nullptr;
    if (!t)
      return mismatch("input '" + item.name + "' is missing (null tensor)");
    bool ok = t->dtype == item.dtype && t->dims.size() == item.dims.size();
    for (size_t d = 0; ok && d < item.dims.size(); ++d) {
      if (item.dims[d] >= 0) {
        ok = t->dims[d] == item.dims[d];
      } else if (!item.dimNames[d].empty()) {
        auto [it, inserted] = bound.emplace(item.dimNames[d], t->dims[d]);
        if (!inserted && it->second != t->dims[d])
          return mismatch("input '" + item.name + "' has " +
                          describe(t->dtype, t->dims) + ": dim '" +
                          item.dimNames[d] + "' is " +
                          std::to_string(t->dims[d]) + " here but " +
                          std::to_string(it->second) + " in another input");
      }
    }
    if (!ok)
      return mismatch("input '" + item.name + "' has " +
                      describe(t->dtype, t->dims) + ", expected " +
                      describeType(item));
  }

  // Descriptors: one buffer for the results, one per input.
  size_t resultBytes = 0;
  for (const Item &item : model->outputs)
    resultBytes += descriptorBytes(item.dims.size());
  std::vector<int64_t> results(resultBytes / 8, 0);
  std::vector<std::vector<int64_t>> inDescs(model->inputs.size());
  std::vector<void *> args;
  if (!model->outputs.empty())
    args.push_back(results.data());
  // Compiled code reads a bool as the byte's lowest bit (Not of a byte 2
  // would be true): a bool input holding bytes other than 0/1 runs on a
  // normalized copy, so any non-zero byte means true, as in numpy.
  std::vector<std::vector<uint8_t>> boolCopies;
  for (size_t i = 0; i < model->inputs.size(); ++i) {
    const qopt_tensor *t = inputs[i];
    void *data = t->data;
    if (t->dtype == QOPT_DTYPE_BOOL) {
      const uint8_t *bytes = static_cast<const uint8_t *>(t->data);
      size_t n = static_cast<size_t>(
          std::max<int64_t>(0, qopt::rt::checkedNumElements(t->dims, 1)));
      if (std::any_of(bytes, bytes + n, [](uint8_t v) { return v > 1; })) {
        std::vector<uint8_t> &copy = boolCopies.emplace_back(n);
        for (size_t k = 0; k < n; ++k)
          copy[k] = bytes[k] != 0;
        data = copy.data();
      }
    }
    size_t r = t->dims.size();
    std::vector<int64_t> &d = inDescs[i];
    d.assign(3 + 2 * r, 0);
    std::memcpy(&d[0], &data, 8);
    std::memcpy(&d[1], &data, 8);
    int64_t stride = 1;
    for (size_t k = r; k-- > 0;) {
      d[3 + k] = t->dims[k];
      d[3 + r + k] = stride;
      stride *= t->dims[k];
    }
    args.push_back(d.data());
  }

  qopt::rt::prepareThreads(model->defaultThreads);
  std::string runError;
  // This run's arena (the memory plan) and, when profiling, its timers.
  std::unique_ptr<Arena> arena = model->takeArena();
  Arena *const savedArena = setActiveArena(arena.get());
  std::unique_ptr<ProfileRun> profile;
  if (model->profiling)
    profile = std::make_unique<ProfileRun>(model->profileKinds.size());
  ProfileRun *const savedProfile = setActiveProfile(profile.get());
  const double runStart = profile ? qopt_now_seconds() : 0;
  const bool ran = qopt::rt::runGuarded(model->entry, args.data(), runError);
  const double runEnd = profile ? qopt_now_seconds() : 0;
  setActiveProfile(savedProfile);
  setActiveArena(savedArena);
  model->giveArena(std::move(arena));
  if (profile) {
    std::lock_guard<std::mutex> lock(model->profileMutex);
    for (size_t i = 0; i < profile->seconds.size(); ++i) {
      model->profileSeconds[i] += profile->seconds[i];
      model->profileCalls[i] += profile->calls[i];
    }
    model->profileRunSeconds += runEnd - runStart;
    ++model->profileRuns;
  }
  if (!ran) {
    for (int o = 0; o < numOutputs; ++o)
      outputs[o] = nullptr;
    return fail(runError);
  }

  // Adopt each result buffer; copy where a buffer is shared, aliases an
  // input or lies in a loaded image (a constant).
  std::set<void *> adopted;
  for (size_t i = 0; i < model->inputs.size(); ++i)
    adopted.insert(inputs[i]->data);
  for (const std::vector<uint8_t> &copy : boolCopies)
    adopted.insert(const_cast<uint8_t *>(copy.data()));
  std::vector<void *> toFree;
  size_t off = 0;
  qopt_status status = QOPT_OK;
  for (size_t o = 0; o < model->outputs.size(); ++o) {
    const Item &item = model->outputs[o];
    size_t r = item.dims.size();
    const int64_t *d = &results[off];
    off += 3 + 2 * r;
    void *allocated, *aligned;
    std::memcpy(&allocated, &d[0], 8);
    std::memcpy(&aligned, &d[1], 8);
    std::vector<int64_t> dims(d + 3, d + 3 + r);
    size_t esize = qopt_dtype_size(item.dtype);
    char *first = static_cast<char *>(aligned) + d[2] * int64_t(esize);
    bool contiguous = true;
    int64_t stride = 1;
    for (size_t k = r; k-- > 0;) {
      if (dims[k] != 1 && d[3 + r + k] != stride)
        contiguous = false;
      stride *= dims[k];
    }
    Dl_info info;
    bool fresh =
        allocated && !adopted.count(allocated) && dladdr(allocated, &info) == 0;
    bool owned = fresh && contiguous;
    qopt_tensor *t = nullptr;
    if (owned) {
      t = new qopt_tensor;
      t->dtype = item.dtype;
      t->dims = dims;
      t->data = first;
      t->base = allocated;
      adopted.insert(allocated);
    } else {
      t = newTensor(item.dtype, dims);
      if (!t) {
        status = QOPT_ERROR;
        outputs[o] = nullptr;
        continue;
      }
      // Strided copy element by element (rare: constants, aliases).
      int64_t n = checkedNumElements(dims, esize);
      std::vector<int64_t> idx(r, 0);
      for (int64_t e = 0; e < n; ++e) {
        int64_t src = 0;
        for (size_t k = 0; k < r; ++k)
          src += idx[k] * d[3 + r + k];
        std::memcpy(static_cast<char *>(t->data) + e * esize,
                    first + src * int64_t(esize), esize);
        for (size_t k = r; k-- > 0;) {
          if (++idx[k] < dims[k])
            break;
          idx[k] = 0;
        }
      }
      if (fresh) {
        adopted.insert(allocated);
        toFree.push_back(allocated);
      }
    }
    outputs[o] = t;
  }
  for (void *p : toFree)
    std::free(p);
  return status;
}

} // extern "C"
