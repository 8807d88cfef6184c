//===- quant-run.cpp - run a compiled artifact on tensor files ------------===//
//
//   quant-run model.so --input NAME=FILE(.npy|.pb) ... [--output-dir DIR]
//       [--bench N] [--warmup K] [--threads N] [--device=cpu] [--profile]
//       [--device=cuda --device-io [--cuda-graph]]
//
// Loads an artifact with the lean runtime (no LLVM/MLIR), runs it, writes
// each output as DIR/<output name>.npy (.pb for bfloat16, float8/float4 and
// 4/2-bit integers, which .npy cannot hold) and prints its dtype, shape and
// min/max/mean; with --bench, the median and spread of the run time; with
// --profile (an artifact compiled with quant-compile --profile), the time
// per kernel call and generated loop nest, by kind and by region.
// --device-io (with --device=cuda) uploads the inputs once and runs the
// artifact on device-resident inputs and outputs (qopt_cuda_model_run): what
// --bench then times is a call without host transfers. --cuda-graph (with
// --device-io) calls qopt_cuda_model_run_graph: the calls after the first
// warm up, capture and replay a CUDA graph (each says which on stderr), and
// what is printed and written comes from a replay.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_cuda.h"
#include "qopt/Runtime/qopt_runtime.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace {

const char *kUsage =
    "usage: quant-run ARTIFACT --input NAME=FILE ... [--output-dir DIR]\n"
    "                 [--bench N] [--warmup K] [--threads N] "
    "[--device=cpu|cuda] [--adapter NAME]\n"
    "                 [--profile] [--profile-top N] [--device-io] "
    "[--cuda-graph]\n";

int fail(const std::string &message) {
  std::fprintf(stderr, "quant-run: error: %s\n", message.c_str());
  return 1;
}

/// A file name for an output: bytes outside [A-Za-z0-9._-] become '_'.
std::string fileNameFor(const std::string &name) {
  std::string out = name;
  for (char &c : out)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-'))
      c = '_';
  if (out.empty() || out == "." || out == "..")
    out = "_" + out;
  return out;
}

bool makeDirs(const std::string &path) {
  std::string prefix;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      prefix = path.substr(0, i);
      if (!prefix.empty() && mkdir(prefix.c_str(), 0777) != 0 &&
          errno != EEXIST)
        return false;
    }
  }
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool parseCount(const char *s, int &out) {
  char *end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (!*s || *end || v < 0 || v > 1000000000)
    return false;
  out = int(v);
  return true;
}

std::string shapeOf(const qopt_tensor *t) {
  std::string s = std::string(qopt_dtype_name(qopt_tensor_dtype(t))) + "[";
  for (int i = 0; i < qopt_tensor_rank(t); ++i)
    s += (i ? "," : "") + std::to_string(qopt_tensor_dims(t)[i]);
  return s + "]";
}

/// Prints the profile gathered over the runs: the time per kind of region
/// (kernel, loops, copy), then the `top` costliest regions.
void printProfile(const qopt_model *model, int top) {
  struct Row {
    std::string kind, nodes;
    int64_t calls = 0;
    double seconds = 0;
  };
  std::vector<Row> rows;
  double timed = 0;
  for (int i = 0, n = qopt_model_profile_size(model); i < n; ++i) {
    const char *kind = "", *nodes = "";
    Row r;
    if (qopt_model_profile_entry(model, i, &kind, &nodes, &r.calls,
                                 &r.seconds) != QOPT_OK)
      continue;
    r.kind = kind;
    r.nodes = nodes;
    timed += r.seconds;
    rows.push_back(std::move(r));
  }
  int64_t runs = 0;
  double total = qopt_model_profile_run_seconds(model, &runs);
  if (runs == 0 || total <= 0)
    return;
  auto ms = [&](double s) { return s * 1e3 / double(runs); };
  std::printf("profile: %lld runs, %.4f ms per run; timed regions %.1f%%, "
              "the rest (allocation, arguments, outputs) %.1f%%\n",
              (long long)runs, ms(total), 100 * timed / total,
              100 * (total - timed) / total);
  std::vector<Row> kinds;
  for (const Row &r : rows) {
    auto it = std::find_if(kinds.begin(), kinds.end(),
                           [&](const Row &k) { return k.kind == r.kind; });
    if (it == kinds.end())
      it = kinds.insert(kinds.end(), Row{r.kind, "", 0, 0});
    it->calls += r.calls;
    it->seconds += r.seconds;
  }
  auto bySeconds = [](const Row &a, const Row &b) {
    return a.seconds > b.seconds;
  };
  std::sort(kinds.begin(), kinds.end(), bySeconds);
  std::sort(rows.begin(), rows.end(), bySeconds);
  std::printf("%-40s %10s %12s %7s\n", "kind", "calls/run", "ms/run", "%");
  for (const Row &k : kinds)
    std::printf("%-40s %10.1f %12.4f %6.1f%%\n", k.kind.c_str(),
                double(k.calls) / double(runs), ms(k.seconds),
                100 * k.seconds / total);
  std::printf("%-40s %10s %12s %7s  %s\n", "region", "calls/run", "ms/run", "%",
              "ONNX nodes");
  for (size_t i = 0; i < rows.size() && int(i) < top; ++i)
    std::printf("%-40s %10.1f %12.4f %6.1f%%  %s\n", rows[i].kind.c_str(),
                double(rows[i].calls) / double(runs), ms(rows[i].seconds),
                100 * rows[i].seconds / total, rows[i].nodes.c_str());
  if (rows.size() > size_t(top))
    std::printf("... %zu more regions (--profile-top N)\n",
                rows.size() - size_t(top));
}

struct Tensors {
  std::vector<qopt_tensor *> items;
  ~Tensors() {
    for (qopt_tensor *t : items)
      qopt_tensor_free(t);
  }
};

} // namespace

/// Where the artifact runs; named as the artifact's signature names its
/// target.
enum class Device { CPU, CUDA };
constexpr std::pair<Device, const char *> kDevices[] = {{Device::CPU, "cpu"},
                                                        {Device::CUDA, "cuda"}};

static const char *deviceName(Device d) {
  for (const auto &[device, name] : kDevices)
    if (device == d)
      return name;
  return "?";
}

static bool parseDevice(const char *text, Device &out) {
  for (const auto &[device, name] : kDevices)
    if (std::strcmp(text, name) == 0) {
      out = device;
      return true;
    }
  return false;
}

int main(int argc, char **argv) {
  std::string artifact, outputDir, adapter;
  Device device = Device::CPU;
  std::vector<std::pair<std::string, std::string>> inputs;
  int bench = 0, warmup = 1, threads = -1, profileTop = 25;
  bool profile = false, deviceIO = false, cudaGraph = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) -> const char * {
      std::string f = flag;
      if (arg.rfind(f + "=", 0) == 0)
        return argv[i] + f.size() + 1;
      if (arg == f && i + 1 < argc)
        return argv[++i];
      return nullptr;
    };
    const char *v;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if ((v = value("--input"))) {
      std::string spec = v;
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        return fail("--input " + spec + ": expected NAME=FILE");
      inputs.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
    } else if ((v = value("--output-dir"))) {
      outputDir = v;
    } else if ((v = value("--bench"))) {
      if (!parseCount(v, bench) || bench == 0)
        return fail(std::string("--bench ") + v + ": expected a count >= 1");
    } else if ((v = value("--warmup"))) {
      if (!parseCount(v, warmup))
        return fail(std::string("--warmup ") + v + ": expected a count >= 0");
    } else if ((v = value("--threads"))) {
      if (!parseCount(v, threads) || threads == 0)
        return fail(std::string("--threads ") + v + ": expected a count >= 1");
    } else if (arg == "--profile") {
      profile = true;
    } else if (arg == "--device-io") {
      deviceIO = true;
    } else if (arg == "--cuda-graph") {
      cudaGraph = true;
    } else if ((v = value("--profile-top"))) {
      if (!parseCount(v, profileTop))
        return fail(std::string("--profile-top ") + v +
                    ": expected a count >= 0");
    } else if ((v = value("--adapter"))) {
      adapter = v;
    } else if ((v = value("--device"))) {
      if (!parseDevice(v, device))
        return fail(std::string("--device=") + v + ": expected cpu or cuda");
    } else if (!arg.empty() && arg[0] == '-') {
      return fail("unknown option '" + arg + "'\n" + kUsage);
    } else if (artifact.empty()) {
      artifact = arg;
    } else {
      return fail("more than one artifact given ('" + artifact + "', '" + arg +
                  "')");
    }
  }
  if (artifact.empty())
    return fail(std::string("no artifact given\n") + kUsage);
  if (deviceIO && device != Device::CUDA)
    return fail("--device-io: needs --device=cuda (inputs and outputs in GPU "
                "memory)");
  if (cudaGraph && !deviceIO)
    return fail("--cuda-graph: needs --device=cuda --device-io (a graph "
                "replays a call on device-resident inputs and outputs)");
  if (threads > 0 && qopt_set_num_threads(threads) != QOPT_OK)
    return fail(std::string("--threads ") + std::to_string(threads) + ": " +
                qopt_last_error());

  // A GPU artifact loads its kernels when it is opened: check the driver
  // and device first.
  if (device == Device::CUDA && !qopt_cuda_available())
    return fail(std::string("--device=cuda: ") + qopt_cuda_last_error());
  qopt_model *model = nullptr;
  if (qopt_model_load(artifact.c_str(), &model) != QOPT_OK)
    return fail(qopt_last_error());
  struct ModelFree {
    qopt_model *m;
    ~ModelFree() { qopt_model_free(m); }
  } freeModel{model};
  // The signature names the target as the device does (cpu, cuda).
  if (std::strcmp(deviceName(device), qopt_model_target(model)) != 0)
    return fail(std::string("--device=") + deviceName(device) + ": '" +
                artifact + "' was compiled for target '" +
                qopt_model_target(model) + "'");

  // Bind the files to inputs by name.
  int numIn = qopt_model_num_inputs(model),
      numOut = qopt_model_num_outputs(model);
  Tensors in;
  in.items.assign(size_t(numIn), nullptr);
  for (const auto &[name, path] : inputs) {
    int idx = qopt_model_find_input(model, name.c_str());
    if (idx < 0)
      return fail("the model has no input named '" + name +
                  "'\nexpected signature:\n" +
                  qopt_model_signature_text(model));
    if (in.items[idx])
      return fail("input '" + name + "' is given twice");
    if (qopt_tensor_load(path.c_str(), &in.items[idx]) != QOPT_OK)
      return fail("input '" + name + "': " + qopt_last_error());
  }
  // A switched-adapter artifact: `qopt_adapter` selects the adapter by
  // index (-1: the base model) unless given as a file.
  int numAdapters = qopt_model_num_adapters(model);
  if (!adapter.empty() && numAdapters == 0)
    return fail("--adapter " + adapter + ": '" + artifact +
                "' has no switchable adapters (quant-compile "
                "--adapter-mode=switch)");
  if (numAdapters > 0) {
    int idx = qopt_model_find_input(model, "qopt_adapter");
    int64_t choice = -1;
    if (!adapter.empty()) {
      choice = qopt_model_find_adapter(model, adapter.c_str());
      if (choice < 0)
        return fail("--adapter " + adapter + ": no such adapter\n" +
                    "expected signature:\n" + qopt_model_signature_text(model));
    }
    if (idx >= 0 && !in.items[idx] &&
        qopt_tensor_create_copy(QOPT_DTYPE_I64, 0, nullptr, &choice,
                                &in.items[idx]) != QOPT_OK)
      return fail(qopt_last_error());
  }
  for (int i = 0; i < numIn; ++i)
    if (!in.items[i])
      return fail(std::string("no file for input '") +
                  qopt_model_input(model, i)->name + "' (--input " +
                  qopt_model_input(model, i)->name +
                  "=FILE)\nexpected signature:\n" +
                  qopt_model_signature_text(model));

  if (profile && qopt_model_set_profiling(model, 1) != QOPT_OK)
    return fail(std::string("--profile: ") + qopt_last_error());

  Tensors out, devOut;
  out.items.assign(size_t(numOut), nullptr);
  devOut.items.assign(size_t(numOut), nullptr);
  // --device-io: the inputs go to GPU memory once; the outputs stay there
  // (allocated by the first call, written in place by the next ones).
  if (deviceIO) {
    for (int i = 0; i < numIn; ++i) {
      qopt_tensor *h = in.items[i];
      size_t bytes = qopt_tensor_byte_size(h);
      void *d = nullptr;
      if (bytes > 0 && (qopt_cuda_malloc(bytes, &d) != QOPT_OK ||
                        qopt_cuda_copy_to_device(d, qopt_tensor_const_data(h),
                                                 bytes) != QOPT_OK))
        return fail(std::string("--device-io: input '") +
                    qopt_model_input(model, i)->name +
                    "': " + qopt_last_error());
      qopt_tensor *view = nullptr;
      if (qopt_tensor_create_view(
              qopt_tensor_dtype(h), qopt_tensor_rank(h), qopt_tensor_dims(h), d,
              [](void *p) { qopt_cuda_free(p); }, d, &view) != QOPT_OK) {
        qopt_cuda_free(d);
        return fail(qopt_last_error());
      }
      qopt_tensor_free(h);
      in.items[i] = view;
    }
  }
  auto runOnce = [&]() -> bool {
    if (deviceIO && cudaGraph)
      return qopt_cuda_model_run_graph(model, in.items.data(), numIn,
                                       devOut.items.data(), numOut,
                                       nullptr) == QOPT_OK;
    if (deviceIO)
      return qopt_cuda_model_run(model, in.items.data(), numIn,
                                 devOut.items.data(), numOut,
                                 nullptr) == QOPT_OK;
    for (qopt_tensor *&t : out.items) {
      qopt_tensor_free(t);
      t = nullptr;
    }
    return qopt_model_run(model, in.items.data(), numIn, out.items.data(),
                          numOut) == QOPT_OK;
  };
  if (!runOnce())
    return fail(qopt_last_error());
  if (cudaGraph)
    std::fprintf(stderr, "quant-run: cuda graph: call 1: %s\n",
                 qopt_cuda_graph_note());
  // A second call writes into the outputs the first one allocated: they
  // are poisoned first (all bytes 0xff, NaN for floats), so what is
  // printed and written comes from that call. With --cuda-graph, calls 2-4:
  // warm-up, capture, replay.
  for (int call = 2; deviceIO && call <= (cudaGraph ? 4 : 2); ++call) {
    for (qopt_tensor *d : devOut.items) {
      std::vector<unsigned char> poison(qopt_tensor_byte_size(d), 0xff);
      if (!poison.empty() &&
          qopt_cuda_copy_to_device(qopt_tensor_data(d), poison.data(),
                                   poison.size()) != QOPT_OK)
        return fail(qopt_last_error());
    }
    if (!runOnce())
      return fail(qopt_last_error());
    if (cudaGraph)
      std::fprintf(stderr, "quant-run: cuda graph: call %d: %s\n", call,
                   qopt_cuda_graph_note());
  }
  if (deviceIO) // host copies of the outputs, to print and write
    for (int o = 0; o < numOut; ++o) {
      qopt_tensor *d = devOut.items[o];
      if (qopt_tensor_create(qopt_tensor_dtype(d), qopt_tensor_rank(d),
                             qopt_tensor_dims(d), &out.items[o]) != QOPT_OK)
        return fail(qopt_last_error());
      size_t bytes = qopt_tensor_byte_size(d);
      if (bytes > 0 &&
          qopt_cuda_copy_to_host(qopt_tensor_data(out.items[o]),
                                 qopt_tensor_const_data(d), bytes) != QOPT_OK)
        return fail(qopt_last_error());
    }

  if (!outputDir.empty() && !makeDirs(outputDir))
    return fail("cannot create the output directory '" + outputDir +
                "': " + std::strerror(errno));
  // Each output's file; two names that map to one file (`a/b`, `a_b`) are
  // an error rather than one output silently replacing the other.
  std::vector<std::string> files(static_cast<size_t>(numOut));
  for (int o = 0; o < numOut && !outputDir.empty(); ++o) {
    const char *name = qopt_model_output(model, o)->name;
    bool npy = qopt_dtype_has_npy(qopt_tensor_dtype(out.items[o]));
    files[o] = outputDir + "/" + fileNameFor(name) + (npy ? ".npy" : ".pb");
    for (int p = 0; p < o; ++p)
      if (files[p] == files[o])
        return fail(std::string("outputs '") +
                    qopt_model_output(model, p)->name + "' and '" + name +
                    "' would both be written to " + files[o]);
  }
  // All outputs or none: a failed write removes the ones written before.
  std::vector<std::string> written;
  auto failWriting = [&](const std::string &message) {
    for (const std::string &f : written)
      std::remove(f.c_str());
    return fail(message);
  };
  for (int o = 0; o < numOut; ++o) {
    const char *name = qopt_model_output(model, o)->name;
    double mn, mx, mean;
    qopt_tensor_stats(out.items[o], &mn, &mx, &mean);
    std::printf("output %s: %s min=%.6g max=%.6g mean=%.6g\n", name,
                shapeOf(out.items[o]).c_str(), mn, mx, mean);
    if (!outputDir.empty()) {
      // Dtypes .npy cannot hold are written as TensorProto.
      const std::string &path = files[o];
      qopt_status st =
          qopt_dtype_has_npy(qopt_tensor_dtype(out.items[o]))
              ? qopt_tensor_save_npy(out.items[o], path.c_str())
              : qopt_tensor_save_pb(out.items[o], name, path.c_str());
      if (st != QOPT_OK)
        return failWriting(qopt_last_error());
      written.push_back(path);
    }
  }

  if (bench > 0) {
    for (int i = 0; i < warmup; ++i)
      if (!runOnce())
        return fail(qopt_last_error());
    if (cudaGraph) // whether the timed calls replay a graph
      std::fprintf(stderr, "quant-run: cuda graph: bench: %s\n",
                   qopt_cuda_graph_note());
    // The profile covers the timed runs only (warm caches and arena).
    qopt_model_profile_reset(model);
    std::vector<double> ms;
    for (int i = 0; i < bench; ++i) {
      double t0 = qopt_now_seconds();
      if (!runOnce())
        return fail(qopt_last_error());
      ms.push_back((qopt_now_seconds() - t0) * 1e3);
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[size_t(p * double(ms.size() - 1))]; };
    std::printf("bench: %d runs (%d warm-up), %d threads%s: median %.4f ms, "
                "p10 %.4f, p90 %.4f, min %.4f, max %.4f\n",
                bench, warmup, qopt_get_num_threads(),
                !deviceIO   ? ""
                : cudaGraph ? ", device-resident inputs and outputs, cuda graph"
                            : ", device-resident inputs and outputs",
                pct(0.5), pct(0.1), pct(0.9), ms.front(), ms.back());
  }
  if (profile)
    printProfile(model, profileTop);
  return 0;
}
