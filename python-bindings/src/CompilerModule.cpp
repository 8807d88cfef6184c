//===- CompilerModule.cpp - quant_opt._compiler: compiler and IR level ----===//
//
// A nanobind extension over the C APIs only: quant-opt's (qopt-c/, from
// libQOptCAPI.so) and MLIR's core C API (mlir-c/, carried by the same
// library). It compiles models with quant-compile's options struct and
// gives Python an MLIR context with the qopt dialect, modules, textual
// pass pipelines and the ONNX importer. The GIL is released while a model
// compiles and while a pipeline runs.
//
//===----------------------------------------------------------------------===//

#include "qopt-c/Compiler.h"
#include "qopt-c/Dialects.h"

#include "mlir-c/Diagnostics.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/Support.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

[[noreturn]] void raise(const char *cls, const std::string &message) {
  nb::object type = nb::module_::import_("quant_opt._errors").attr(cls);
  PyErr_SetString(type.ptr(), message.c_str());
  throw nb::python_error();
}

MlirStringRef toRef(const std::string &s) {
  return mlirStringRefCreate(s.data(), s.size());
}

void appendTo(MlirStringRef text, void *userData) {
  static_cast<std::string *>(userData)->append(text.data, text.length);
}

struct Strings {
  std::string report, table, error;
};
void toReport(MlirStringRef t, void *u) {
  static_cast<Strings *>(u)->report.append(t.data, t.length);
}
void toTable(MlirStringRef t, void *u) {
  static_cast<Strings *>(u)->table.append(t.data, t.length);
}
void toError(MlirStringRef t, void *u) {
  static_cast<Strings *>(u)->error.append(t.data, t.length);
}

struct OptionsDeleter {
  void operator()(qoptCompileOptions *o) const {
    qoptCompileOptionsDestroy(*o);
    delete o;
  }
};
using OptionsPtr = std::unique_ptr<qoptCompileOptions, OptionsDeleter>;

/// quant-compile's options from (flag name, value) pairs.
OptionsPtr
makeOptions(const std::vector<std::pair<std::string, std::string>> &options) {
  OptionsPtr opts(new qoptCompileOptions(qoptCompileOptionsCreate()));
  for (const auto &[key, value] : options) {
    std::string error;
    if (mlirLogicalResultIsFailure(qoptCompileOptionsSet(
            *opts, toRef(key), toRef(value), appendTo, &error)))
      raise("CompileError", error);
  }
  return opts;
}

/// The calibration progress hook during one compile(): calls the Python
/// callable (a progress bar) and checks for signals (Ctrl-C) with the GIL
/// held; an exception stops the compilation and is raised afterwards.
struct Progress {
  nb::object callback;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;

  static bool hook(int64_t done, int64_t total, void *userData) {
    auto *self = static_cast<Progress *>(userData);
    nb::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0)
        throw nb::python_error();
      if (self->callback.is_valid() && !self->callback.is_none()) {
        nb::object keepGoing = self->callback(done, total);
        if (!keepGoing.is_none() && !nb::cast<bool>(keepGoing))
          return false;
      }
      return true;
    } catch (nb::python_error &e) {
      e.restore();
      PyErr_Fetch(&self->type, &self->value, &self->traceback);
      return false;
    }
  }
};

/// Compiles; returns (report JSON, report table), both "" without a report.
std::pair<std::string, std::string>
compile(const std::string &path, nb::bytes bytes, const std::string &name,
        const std::string &output,
        const std::vector<std::pair<std::string, std::string>> &options,
        nb::object progress) {
  OptionsPtr opts = makeOptions(options);
  std::string data(bytes.c_str(), bytes.size());
  Strings out;
  Progress state{progress};
  bool ok;
  {
    nb::gil_scoped_release release;
    qoptSetCalibrationProgressCallback(&Progress::hook, &state);
    ok = mlirLogicalResultIsSuccess(
        qoptCompile(*opts, toRef(path), toRef(data), toRef(name), toRef(output),
                    toReport, toTable, toError, &out));
    qoptSetCalibrationProgressCallback(nullptr, nullptr);
  }
  if (state.type) {
    // Ctrl-C or the callback's own exception: raised as it was.
    PyErr_Restore(state.type, state.value, state.traceback);
    throw nb::python_error();
  }
  if (!ok)
    raise("CompileError", out.error);
  return {out.report, out.table};
}

//===----------------------------------------------------------------------===//
// IR
//===----------------------------------------------------------------------===//

/// An MLIR context with qopt's dialects; diagnostics are collected so that
/// a failed parse or pipeline raises them.
class Context {
public:
  Context() {
    ctx = mlirContextCreateWithThreading(false);
    MlirDialectRegistry registry = mlirDialectRegistryCreate();
    qoptRegisterAllDialects(registry);
    mlirContextAppendDialectRegistry(ctx, registry);
    mlirDialectRegistryDestroy(registry);
    mlirContextLoadAllAvailableDialects(ctx);
    qoptRegisterAllPasses();
    mlirContextAttachDiagnosticHandler(ctx, &Context::onDiagnostic, this,
                                       nullptr);
  }
  ~Context() { mlirContextDestroy(ctx); }
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;

  MlirContext get() const { return ctx; }
  /// The diagnostics since the last call.
  std::string takeDiagnostics() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    std::swap(out, diagnostics);
    while (!out.empty() && out.back() == '\n')
      out.pop_back();
    return out;
  }
  bool isRegistered(const std::string &dialect) {
    return !mlirDialectIsNull(mlirContextGetOrLoadDialect(ctx, toRef(dialect)));
  }
  int numLoadedDialects() { return int(mlirContextGetNumLoadedDialects(ctx)); }

private:
  static void print(MlirDiagnostic d, std::string &out, int indent) {
    out.append(size_t(indent), ' ');
    mlirLocationPrint(mlirDiagnosticGetLocation(d), appendTo, &out);
    switch (mlirDiagnosticGetSeverity(d)) {
    case MlirDiagnosticError:
      out += ": error: ";
      break;
    case MlirDiagnosticWarning:
      out += ": warning: ";
      break;
    case MlirDiagnosticNote:
      out += ": note: ";
      break;
    case MlirDiagnosticRemark:
      out += ": remark: ";
      break;
    }
    mlirDiagnosticPrint(d, appendTo, &out);
    out += "\n";
    for (intptr_t i = 0, e = mlirDiagnosticGetNumNotes(d); i < e; ++i)
      print(mlirDiagnosticGetNote(d, i), out, indent + 2);
  }
  static MlirLogicalResult onDiagnostic(MlirDiagnostic d, void *userData) {
    auto *self = static_cast<Context *>(userData);
    std::string text;
    print(d, text, 0);
    std::lock_guard<std::mutex> lock(self->mu);
    self->diagnostics += text;
    return mlirLogicalResultSuccess();
  }

  MlirContext ctx;
  std::mutex mu;
  std::string diagnostics;
};

class Module {
public:
  Module(std::shared_ptr<Context> context, MlirModule module)
      : context(std::move(context)), module(module) {}
  ~Module() { mlirModuleDestroy(module); }
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  static std::unique_ptr<Module> parse(std::shared_ptr<Context> context,
                                       const std::string &text) {
    context->takeDiagnostics();
    MlirModule m = mlirModuleCreateParse(context->get(), toRef(text));
    if (mlirModuleIsNull(m))
      raise("IRError",
            "cannot parse the module:\n" + context->takeDiagnostics());
    return std::make_unique<Module>(std::move(context), m);
  }

  static std::unique_ptr<Module>
  importONNX(std::shared_ptr<Context> context, nb::bytes bytes,
             const std::string &name,
             const std::vector<std::pair<std::string, std::string>> &options) {
    OptionsPtr opts = makeOptions(options);
    context->takeDiagnostics();
    std::string data(bytes.c_str(), bytes.size());
    MlirModule m;
    {
      nb::gil_scoped_release release;
      m = qoptImportONNX(context->get(), toRef(data), toRef(name), *opts);
    }
    if (mlirModuleIsNull(m))
      raise("CompileError", context->takeDiagnostics());
    return std::make_unique<Module>(std::move(context), m);
  }

  std::string str(bool generic, bool debugInfo) const {
    std::string out;
    MlirOpPrintingFlags flags = mlirOpPrintingFlagsCreate();
    if (generic)
      mlirOpPrintingFlagsPrintGenericOpForm(flags);
    if (debugInfo)
      mlirOpPrintingFlagsEnableDebugInfo(flags, true, false);
    mlirOperationPrintWithFlags(mlirModuleGetOperation(module), flags, appendTo,
                                &out);
    mlirOpPrintingFlagsDestroy(flags);
    return out;
  }

  void verify() const {
    context->takeDiagnostics();
    if (!mlirOperationVerify(mlirModuleGetOperation(module)))
      raise("IRError",
            "the module does not verify:\n" + context->takeDiagnostics());
  }

  /// Parses `pipeline` (a textual pass pipeline; plain pass lists are
  /// anchored on builtin.module) and runs it on the module, in place.
  void runPipeline(const std::string &pipeline) {
    std::string text = pipeline;
    if (text.rfind("builtin.module(", 0) != 0)
      text = "builtin.module(" + text + ")";
    context->takeDiagnostics();
    MlirPassManager pm = mlirPassManagerCreate(context->get());
    std::string error;
    if (mlirLogicalResultIsFailure(
            mlirParsePassPipeline(mlirPassManagerGetAsOpPassManager(pm),
                                  toRef(text), appendTo, &error))) {
      mlirPassManagerDestroy(pm);
      raise("IRError",
            "cannot parse pass pipeline '" + pipeline + "': " + error);
    }
    MlirLogicalResult result;
    {
      nb::gil_scoped_release release;
      result = mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module));
    }
    mlirPassManagerDestroy(pm);
    if (mlirLogicalResultIsFailure(result)) {
      std::string diags = context->takeDiagnostics();
      raise("IRError", "pipeline '" + pipeline + "' failed" +
                           (diags.empty() ? "" : ":\n" + diags));
    }
  }

  std::shared_ptr<Context> getContext() const { return context; }

private:
  std::shared_ptr<Context> context;
  MlirModule module;
};

void collectPass(MlirStringRef name, MlirStringRef summary, bool isPipeline,
                 void *userData) {
  static_cast<std::vector<std::tuple<std::string, std::string, bool>> *>(
      userData)
      ->emplace_back(std::string(name.data, name.length),
                     std::string(summary.data, summary.length), isPipeline);
}

} // namespace

NB_MODULE(_compiler, m) {
  m.doc() = "quant-opt's compiler and IR (libQOptCAPI, MLIR's C API)";

  m.def("compile", &compile, "path"_a, "bytes"_a, "name"_a, "output"_a,
        "options"_a, "progress"_a = nb::none());
  m.def("option_keys", [] {
    std::string out;
    qoptCompileOptionsDescribe(appendTo, &out);
    return out;
  });
  m.def(
      "passes",
      [](const std::string &prefix) {
        std::vector<std::tuple<std::string, std::string, bool>> out;
        qoptListPasses(toRef(prefix), collectPass, &out);
        return out;
      },
      "prefix"_a = "");
  m.def("qopt_dialect_namespace", [] {
    MlirStringRef ns =
        mlirDialectHandleGetNamespace(mlirGetDialectHandle__qopt__());
    return std::string(ns.data, ns.length);
  });

  nb::class_<Context>(m, "Context")
      .def(nb::init<>())
      .def("is_registered", &Context::isRegistered, "dialect"_a)
      .def_prop_ro("num_loaded_dialects", &Context::numLoadedDialects);

  // Contexts are shared between Python and the modules made in them.
  nb::class_<Module>(m, "Module")
      .def_static(
          "parse",
          [](std::shared_ptr<Context> ctx, const std::string &text) {
            return Module::parse(std::move(ctx), text);
          },
          "context"_a, "text"_a)
      .def_static("import_onnx", &Module::importONNX, "context"_a, "bytes"_a,
                  "name"_a, "options"_a)
      .def("str", &Module::str, "generic"_a = false, "debug_info"_a = false)
      .def("verify", &Module::verify)
      .def("run_pipeline", &Module::runPipeline, "pipeline"_a)
      .def_prop_ro("context", &Module::getContext);
}
