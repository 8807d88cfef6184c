//===- Symbols.cpp - the runtime functions compiled code calls ------------===//
//
// The table JITs use to resolve what compiled code calls. This file only
// takes addresses: each function is declared here as `void name()`, the
// C linkage name being all that matters (their real prototypes live with
// their definitions in Threads.cpp, Codegen.cpp and Kernels.cpp), so it
// must not include those files' headers.
//
//===----------------------------------------------------------------------===//

#include "qopt/Runtime/qopt_runtime.h"

extern "C" {

#define QOPT_CODEGEN_SYMBOLS(X)                                                \
  X(memrefCopy)                                                                \
  X(mlirAsyncRuntimeAddRef)                                                    \
  X(mlirAsyncRuntimeDropRef)                                                   \
  X(mlirAsyncRuntimeCreateToken)                                               \
  X(mlirAsyncRuntimeCreateValue)                                               \
  X(mlirAsyncRuntimeCreateGroup)                                               \
  X(mlirAsyncRuntimeAddTokenToGroup)                                           \
  X(mlirAsyncRuntimeEmplaceToken)                                              \
  X(mlirAsyncRuntimeEmplaceValue)                                              \
  X(mlirAsyncRuntimeSetTokenError)                                             \
  X(mlirAsyncRuntimeSetValueError)                                             \
  X(mlirAsyncRuntimeIsTokenError)                                              \
  X(mlirAsyncRuntimeIsValueError)                                              \
  X(mlirAsyncRuntimeIsGroupError)                                              \
  X(mlirAsyncRuntimeAwaitToken)                                                \
  X(mlirAsyncRuntimeAwaitValue)                                                \
  X(mlirAsyncRuntimeAwaitAllInGroup)                                           \
  X(mlirAsyncRuntimeGetValueStorage)                                           \
  X(mlirAsyncRuntimeExecute)                                                   \
  X(mlirAsyncRuntimeAwaitTokenAndExecute)                                      \
  X(mlirAsyncRuntimeAwaitValueAndExecute)                                      \
  X(mlirAsyncRuntimeAwaitAllInGroupAndExecute)                                 \
  X(mlirAsyncRuntimGetNumWorkerThreads)                                        \
  X(mlirAsyncRuntimePrintCurrentThreadId)                                      \
  X(qopt_kernel_matmul_f32)                                                    \
  X(qopt_kernel_conv2d_nchw_f32)                                               \
  X(qopt_kernel_matmul_s8s8)                                                   \
  X(qopt_kernel_matmul_u8s8)                                                   \
  X(qopt_kernel_matmul_w8)                                                     \
  X(qopt_kernel_matmul_w4)                                                     \
  X(qopt_kernel_conv2d_nchw_s8)                                                \
  X(qopt_kernel_matmul_s8t2)                                                   \
  X(qopt_kernel_matmul_f32t2)                                                  \
  X(qopt_observe_f32)                                                          \
  X(qopt_rt_fail)                                                              \
  X(qopt_rt_malloc)                                                            \
  X(qopt_rt_aligned_alloc)                                                     \
  X(qopt_observe_channels_f32)                                                 \
  X(qopt_observe_channel_sumsq_f32)                                            \
  X(qopt_kernel_matmul_sparse24_f32)                                           \
  X(qopt_rt_profile_begin)                                                     \
  X(qopt_rt_profile_end)                                                       \
  X(qopt_rt_arena)                                                             \
  X(qopt_kernel_conv2d_nchw_f32_fused)                                         \
  X(qopt_kernel_row_absmax_f32)                                                \
  X(qopt_kernel_quantize_rows_s8)                                              \
  X(qopt_kernel_dequant_rows_f32)                                              \
  X(qopt_observe_second_moment_f32)                                            \
  X(qopt_kernel_conv2d_grouped_f32)                                            \
  X(qopt_kernel_matmul_sparse24_s8s8)                                          \
  X(qopt_kernel_matmul_sparse24_u8s8)                                          \
  X(qopt_kernel_matmul_csr_f32)                                                \
  X(qopt_kernel_attention_f32)                                                 \
  X(qopt_kernel_norm_f32)                                                      \
  X(qopt_kernel_conv2d_depthwise_f32)                                          \
  X(qopt_kernel_pool2d_f32)                                                    \
  X(qopt_kernel_matmul_f32_fused)                                              \
  X(qopt_kernel_matmul_sparse24_w8)                                            \
  X(qopt_kernel_conv2d_depthwise_s8)                                           \
  X(qopt_kernel_conv2d_nchw_s8_dequant)                                        \
  X(qopt_kernel_conv2d_depthwise_s8_dequant)

#define QOPT_DECLARE(name) void name();
QOPT_CODEGEN_SYMBOLS(QOPT_DECLARE)
#undef QOPT_DECLARE

const qopt_symbol *qopt_runtime_codegen_symbols(size_t *count) {
#define QOPT_ENTRY(name) {#name, reinterpret_cast<void *>(&name)},
  static const qopt_symbol symbols[] = {QOPT_CODEGEN_SYMBOLS(QOPT_ENTRY)};
#undef QOPT_ENTRY
  *count = sizeof(symbols) / sizeof(symbols[0]);
  return symbols;
}

} // extern "C"
