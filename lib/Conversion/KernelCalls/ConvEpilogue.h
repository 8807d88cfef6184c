//===- ConvEpilogue.h - what a conv kernel call can absorb ------*- C++ -*-===//
//
// The ops around an f32 linalg.conv_2d_nchw_fchw on buffers that the
// runtime's qopt_kernel_conv2d_nchw_f32_fused applies in its epilogue: the
// op initializing the output (a bias broadcast, or zeros) and the single
// element-wise consumer (residual add and/or an activation).
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_CONVERSION_KERNELCALLS_CONVEPILOGUE_H
#define QOPT_LIB_CONVERSION_KERNELCALLS_CONVEPILOGUE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace mlir::qopt {

/// The runtime's activation codes (lib/Runtime/Conv.h, ConvAct).
enum class ConvEpilogueAct : int64_t {
  None = 0,
  Relu = 1,
  Clip = 2,
  LeakyRelu = 3,
  Sigmoid = 4,
  HardSwish = 5,
  SiLU = 6,
  GeluErf = 7,  // 0.5 x (1 + erf(x / sqrt(2)))
  GeluTanh = 8, // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
};

struct ConvEpilogueMatch {
  /// Writes the conv's output before it (erased): a broadcast of `bias`
  /// over N, H, W, or zeros (bias null).
  Operation *init = nullptr;
  Value bias;
  /// The element-wise consumer taken over (erased), or null: then the
  /// results go to the conv's own output.
  linalg::GenericOp consumer;
  Value residual; // added before the activation, or null
  /// The residual is a gate instead: act(x) * residual (matmuls only; the
  /// conv matchers do not take such a consumer).
  bool gated = false;
  Value dst; // where the results go
  ConvEpilogueAct act = ConvEpilogueAct::None;
  float alpha = 0, beta = 0;
};

/// What of its surroundings `conv` (f32, on buffers) can take over, or
/// nullopt. Checks that the output buffer is a fresh allocation that only
/// the init op, the conv, the consumer and deallocations use, that the
/// consumer's destination does not alias the conv's operands, and that no
/// op between the conv and the consumer touches the buffers involved (the
/// call replaces the consumer, at its position).
std::optional<ConvEpilogueMatch>
matchConvEpilogue(linalg::Conv2DNchwFchwOp conv);

/// The pieces matchConvEpilogue is built of, for the other convolution
/// kernels (DepthwiseConv.cpp). Fills the consumer part of `m` (consumer,
/// residual, dst, activation) from `g`, an element-wise generic reading the
/// conv's output `out`; false if `g` is not an epilogue the kernels apply.
bool matchConvConsumer(linalg::GenericOp g, Value out, ConvEpilogueMatch &m);
/// The activation `y` (an f32 value in a generic's body) applies to its
/// pre-activation value `x`, in one of the forms the kernels' epilogues
/// take (act None, x = y: none).
struct ConvActivationMatch {
  ConvEpilogueAct act = ConvEpilogueAct::None;
  float alpha = 0, beta = 0;
  Value x;
};
ConvActivationMatch convMatchActivation(Value y);
/// The buffer a memref is a view of.
Value convBaseBuffer(Value v);
/// Whether two base buffers are known to be different memory.
bool convDistinctBuffers(Value a, Value b);
/// Whether `op` writes all of `buf` with zeros (a linalg.fill or an
/// input-less linalg.map yielding the constant 0).
bool convZeroInitOf(Operation *op, Value buf);

/// The coefficients of dims `o` and `k` in `e`, if `e` is exactly
/// o * a + k * b with a, b >= 1 (a grouped or depthwise conv's input index).
std::optional<std::pair<int64_t, int64_t>>
convWindowIndex(AffineExpr e, unsigned numDims, unsigned o, unsigned k);

/// The window of the importer's grouped 2-D convolution generic on buffers
/// (lib/Import/ONNX/Ops/Conv.cpp, groupedConv): loops (n, g, m, oh, ow, c,
/// kh, kw), the first five parallel, x [N, G, C, H, W] read at (n, g, c,
/// oh * sh + kh * dh, ow * sw + kw * dw), w [G, M, C, KH, KW] at (g, m, c,
/// kh, kw), out [N, G, M, OH, OW] at (n, g, m, oh, ow). `rows` is (sh, dh),
/// `cols` (sw, dw). Checks the op's structure only (not its body or types).
struct GroupedConvWindow {
  std::pair<int64_t, int64_t> rows, cols;
};
std::optional<GroupedConvWindow> matchGroupedConvGeneric(linalg::GenericOp op);

/// Whether `body`, a conv generic's (inputs x, w, then the accumulator),
/// is acc + x * w: addf/mulf of the arguments (f32), or, `int8`,
/// addi/muli of their sign extensions (i8 x i8 -> i32).
bool isConvMulAccBody(Block &body, bool int8);

/// A depthwise conv's padded input (`view`, an expand_shape of %p): %p
/// [N, G, H + pads, W + pads] allocated, filled, %x copied into its interior
/// (offsets [0, 0, top, left]) before `conv`, and read only by it.
struct ConvPadMatch {
  Value x, padded;
  int64_t top = 0, left = 0;
  /// The fill's value (0 for f32; the zero point for int8).
  int64_t value = 0;
  Operation *fill = nullptr;
  memref::CopyOp copy;
  memref::SubViewOp interior;
};
/// The integer a fill of `buf` writes (linalg.fill of a constant, or an
/// input-less linalg.map yielding one), if `op` is one.
std::optional<int64_t> convIntFillValueOf(Operation *op, Value buf);
/// `int8`: %x is i8 and the fill any integer constant; otherwise %x is f32
/// and the fill zeros.
std::optional<ConvPadMatch> matchConvPadding(Value view, Operation *conv,
                                             bool int8);
/// Erases the padding's fill, copy and interior view (the kernel reads %x
/// with the padding implicit), and %p when nothing else uses it.
void eraseConvPadding(PatternRewriter &rewriter, const ConvPadMatch &pad);
/// Erases `buffer`'s allocation, views and deallocations when those are its
/// only users (the views unused).
void convEraseIfDead(PatternRewriter &rewriter, Value buffer);

/// A memref's first-element address (i64, in bytes) and element strides
/// (index).
struct KernelBuffer {
  Value address;
  SmallVector<Value> strides;
};
KernelBuffer describeKernelBuffer(PatternRewriter &rewriter, Location loc,
                                  Value memref);
/// Declares `void name(i64 x numArgs)` in `from`'s module once.
func::FuncOp declareKernelFunc(PatternRewriter &rewriter, Operation *from,
                               StringRef name, unsigned numArgs);
/// A buffer as a kernel's i64 arguments: its first element's address (in
/// bytes), then its element strides.
SmallVector<Value> kernelBufferArgs(PatternRewriter &rewriter, Location loc,
                                    Value memref);

/// The arguments of every qopt_kernel_conv2d_nchw_* call (Gemm.h,
/// QOPT_CONV2D_NCHW_PARAMS) for a 2-D (or, rank 3, 1-D) convolution on
/// buffers: sizes, strides, dilations, then each buffer's address and
/// element strides (LinalgToKernelCalls.cpp).
SmallVector<Value> convKernelArgs(PatternRewriter &rewriter, Location loc,
                                  Value in, Value filter, Value out,
                                  DenseIntElementsAttr strides,
                                  DenseIntElementsAttr dilations);
/// A rank-1 buffer as a kernel's (address, element stride) i64 arguments.
std::pair<Value, Value> vectorKernelArgs(PatternRewriter &rewriter,
                                         Location loc, Value v);

/// convert-linalg-to-qopt-kernel-calls' int8 convolutions whose i32 sums
/// only feed their dequantizing epilogue (IntegerConvEpilogue.cpp).
void populateIntegerConvEpiloguePatterns(RewritePatternSet &patterns);

/// Whether an op strictly between `from` and `to` (same block) uses a view
/// of one of `buffers`.
bool convTouchedBetween(Operation *from, Operation *to,
                        ArrayRef<Value> buffers);

/// What of its surroundings an f32 contraction on buffers (the kernel's N
/// being loop dim `nDim`) can take over (MatmulEpilogue.cpp): the init of
/// its output (zeros, or a bias along the last dim) and, when it also
/// matches, the element-wise consumer (`init` set, `consumer` null: the
/// bias alone); nullopt: neither.
std::optional<ConvEpilogueMatch> matchMatmulEpilogue(linalg::LinalgOp op,
                                                     unsigned nDim);

/// Depthwise convolutions (the importer's grouped generic with one input
/// channel per group) as qopt_kernel_conv2d_depthwise_f32 calls that also
/// take over the padding copy, the init and the element-wise consumer
/// (DepthwiseConv.cpp).
void populateDepthwiseConvKernelCallPatterns(RewritePatternSet &patterns);

/// W8A8's int8 depthwise convolutions (i8 x i8 -> i32 grouped generics on a
/// padded input) as qopt_kernel_conv2d_depthwise_s8 calls
/// (DepthwiseConvS8.cpp).
void populateDepthwiseConvS8KernelCallPatterns(RewritePatternSet &patterns);

/// 2-D max / sum pools over NCHW f32 (the importer's MaxPool and
/// AveragePool generics) as qopt_kernel_pool2d_f32 calls
/// (PoolKernelCalls.cpp).
void populatePoolKernelCallPatterns(RewritePatternSet &patterns);

} // namespace mlir::qopt

#endif // QOPT_LIB_CONVERSION_KERNELCALLS_CONVEPILOGUE_H
