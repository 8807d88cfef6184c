//===- LinalgToKernelCalls.h - matmuls/convs as runtime calls ---*- C++ -*-===//
//
/// \file
/// Patterns of `convert-linalg-to-qopt-kernel-calls`, for reuse.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_CONVERSION_KERNELCALLS_LINALGTOKERNELCALLS_H
#define QOPT_CONVERSION_KERNELCALLS_LINALGTOKERNELCALLS_H

namespace mlir {
class RewritePatternSet;

namespace qopt {

/// Adds the patterns that rewrite f32 linalg contractions and
/// `linalg.conv_2d_nchw_fchw` on buffers into calls of the runtime's
/// `qopt_kernel_matmul_f32` / `qopt_kernel_conv2d_nchw_f32`.
void populateLinalgToKernelCallsPatterns(RewritePatternSet &patterns);

/// Only the quantized ones: the generics qopt.qlinear's and
/// qopt.bitlinear's lowerings tag with a `library_call` (int8 / weight-only
/// / ternary matmuls) become calls of `qopt_kernel_matmul_<kind>` with the
/// CPU kernels' arguments (the NVPTX pipeline renames them).
void populateQuantKernelCallsPatterns(RewritePatternSet &patterns);

/// float32 contractions as `qopt_kernel_matmul_f32` calls (the first
/// pattern of populateLinalgToKernelCallsPatterns alone).
void populateFloatMatmulKernelCallsPatterns(RewritePatternSet &patterns);

/// float16 / bfloat16 contractions (both inputs of one type, possibly
/// widened with extf in the body; output of that type or float32) as calls
/// of the GPU runtime's `qopt_cuda_matmul_h16`: the float pattern's 21
/// operands, then the type (0 f16, 1 bf16), whether C is float32,
/// accumulate (1: C += A·B) and the stream (0).
void populateHalfMatmulKernelCallsPatterns(RewritePatternSet &patterns);

/// The 2:4 products qopt.linear's lowering tags
/// (`qopt_kernel_matmul_sparse24`) as `qopt_kernel_matmul_sparse24_f32`
/// calls (one pattern of populateLinalgToKernelCallsPatterns alone).
void populateSparse24KernelCallsPatterns(RewritePatternSet &patterns);

} // namespace qopt
} // namespace mlir

#endif // QOPT_CONVERSION_KERNELCALLS_LINALGTOKERNELCALLS_H
