/*===- Dialects.h - C API of the qopt dialect and its passes -----*- C -*-===*
 *
 * MLIR C API conventions: a project with its own MLIR Python build (or any
 * C user of MLIR) loads the qopt dialect through its dialect handle and
 * registers qopt's passes and pipelines for textual pipelines.
 *
 *===----------------------------------------------------------------------===*/

#ifndef QOPT_C_DIALECTS_H
#define QOPT_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/** mlirGetDialectHandle__qopt__(): the qopt dialect alone. */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(QOpt, qopt);

/** Adds qopt, every upstream dialect and interface extension and the ONNX
 *  importer's dialects to `registry` (what quant-opt's contexts hold). */
MLIR_CAPI_EXPORTED void qoptRegisterAllDialects(MlirDialectRegistry registry);

/** Registers every qopt pass and pipeline (qopt-ptq, qopt-cpu-pipeline,
 *  qopt-nvptx-pipeline, ...) and every upstream pass with the global
 *  registry, once (later calls do nothing). */
MLIR_CAPI_EXPORTED void qoptRegisterAllPasses(void);

/** Calls `callback(name, summary, isPipeline, userData)` for every
 *  registered pass and pipeline whose name starts with `prefix` (empty: all),
 *  sorted by name. */
typedef void (*qoptPassInfoCallback)(MlirStringRef name, MlirStringRef summary,
                                     bool isPipeline, void *userData);
MLIR_CAPI_EXPORTED void qoptListPasses(MlirStringRef prefix,
                                       qoptPassInfoCallback callback,
                                       void *userData);

#ifdef __cplusplus
}
#endif

#endif /* QOPT_C_DIALECTS_H */
