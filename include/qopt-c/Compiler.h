/*===- Compiler.h - C API of quant-compile and the ONNX importer -*- C -*-===*
 *
 * quant-compile as a C API: the options are the tool's, set by their flag
 * names (qopt::CompileOptions::set, qopt/Compiler/Driver.h), and errors are
 * the messages the tool prints. Compilation runs the calibration through
 * the runtime's process-wide calibration session: do not run two
 * quantizing compilations at once.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QOPT_C_COMPILER_H
#define QOPT_C_COMPILER_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** quant-compile's options (qopt::CompileOptions). */
typedef struct qoptCompileOptions {
  void *ptr;
} qoptCompileOptions;

MLIR_CAPI_EXPORTED qoptCompileOptions qoptCompileOptionsCreate(void);
MLIR_CAPI_EXPORTED void qoptCompileOptionsDestroy(qoptCompileOptions options);

/** Sets option `key` (a quant-compile flag name without dashes:
 *  "quantize", "calibration-data", "adapter", "O", ...; repeatable flags
 *  append) to `value`. On failure `error` receives the message. */
MLIR_CAPI_EXPORTED MlirLogicalResult qoptCompileOptionsSet(
    qoptCompileOptions options, MlirStringRef key, MlirStringRef value,
    MlirStringCallback error, void *userData);

/** The accepted keys, one "key<TAB>description" line each. */
MLIR_CAPI_EXPORTED void qoptCompileOptionsDescribe(MlirStringCallback callback,
                                                   void *userData);

/** Compiles the model at `modelPath` (.onnx, .onnxtext, .mlir), or the ONNX
 *  bytes `modelBytes` when `modelPath` is empty (`modelName` names them in
 *  messages; external data is looked up beside it), to `outputPath`. On
 *  success `report` receives the accuracy report's JSON when the options
 *  asked for one, `table` its printed form; on failure `error` receives
 *  what quant-compile prints (diagnostics naming the ONNX node or pass, or
 *  the option error). */
MLIR_CAPI_EXPORTED MlirLogicalResult
qoptCompile(qoptCompileOptions options, MlirStringRef modelPath,
            MlirStringRef modelBytes, MlirStringRef modelName,
            MlirStringRef outputPath, MlirStringCallback report,
            MlirStringCallback table, MlirStringCallback error, void *userData);

/** Sets the process-wide calibration progress hook: `callback(done, total,
 *  userData)` runs after each calibration sample; returning false stops the
 *  compilation, which fails with "calibration interrupted ...". NULL
 *  removes it. */
typedef bool (*qoptProgressCallback)(int64_t done, int64_t total,
                                     void *userData);
MLIR_CAPI_EXPORTED void
qoptSetCalibrationProgressCallback(qoptProgressCallback callback,
                                   void *userData);

/** Imports an ONNX model (binary or textual syntax, from memory) into
 *  `context` at the graph level (func + qopt + linalg/tensor/arith). The
 *  context must hold qopt's dialects (qoptRegisterAllDialects). Import
 *  options (pin-shape, pin-dim, freeze-input, default-opset) come from
 *  `options`, which may be null. A null module on failure, reported through
 *  the context's diagnostic handlers. */
MLIR_CAPI_EXPORTED MlirModule qoptImportONNX(MlirContext context,
                                             MlirStringRef bytes,
                                             MlirStringRef name,
                                             qoptCompileOptions options);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_COMPILER_H */
