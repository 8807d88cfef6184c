//===- BitLinearToLinalg.cpp - qopt.bitlinear to linalg on tensors --------===//
//
// qopt.bitlinear becomes linalg.generic ops over the packed 2-bit weight
// viewed against the input as [M, K/4, 4] (loop j picks the 2 bits of a
// byte). The contraction is tagged with the runtime kernel that takes it
// over on the CPU (`library_call`, LinalgToKernelCalls.cpp); elsewhere the
// generic's own body runs as loops:
//
//   activation = none            acc(f32) += x · t
//                                [qopt_kernel_matmul_f32t2];
//                                y = acc · gamma + bias
//   activation = per_token_int8  s[m] = 127 / max(max_k |x[m, k]|, 1e-5);
//                                acc(i32) += q(x · s) · t
//                                [qopt_kernel_matmul_s8t2];
//                                y = float(acc) · gamma / s[m] + bias
//
//===----------------------------------------------------------------------===//

#include "LinalgHelpers.h"
#include "qopt/Conversion/QOptToLinalg/QOptToLinalg.h"
#include "qopt/Dialect/QOpt/IR/QOptOps.h"
#include "qopt/Support/Ternary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::qopt;
using namespace mlir::qopt::linalg_helpers;

namespace {

/// tensor.empty [M, ...] with M (maybe dynamic) from dim 0 of `x2d`.
Value emptyRows(OpBuilder &b, Location loc, Value x2d, ArrayRef<int64_t> rest,
                Type elem) {
  auto xTy = cast<RankedTensorType>(x2d.getType());
  SmallVector<int64_t> shape{xTy.getDimSize(0)};
  shape.append(rest.begin(), rest.end());
  SmallVector<Value> dyn;
  if (xTy.isDynamicDim(0))
    dyn.push_back(tensor::DimOp::create(b, loc, x2d, 0));
  return tensor::EmptyOp::create(b, loc, shape, elem, dyn);
}

/// The ternary value (i32 in {-1, 0, 1}) of weight j (0..3) of `byte`:
/// code (byte >> 2j) & 3, minus 1; code 3 (invalid) reads as 0 as in the
/// kernels' f32 path.
Value ternaryAt(OpBuilder &b, Location l, Value byte, Value j) {
  Type i32 = b.getI32Type();
  auto c = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, l, v, 32).getResult();
  };
  Value shift = arith::MulIOp::create(
      b, l, arith::IndexCastOp::create(b, l, i32, j), c(2));
  Value code = arith::AndIOp::create(
      b, l,
      arith::ShRUIOp::create(b, l, arith::ExtUIOp::create(b, l, i32, byte),
                             shift),
      c(3));
  Value invalid =
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, code, c(3));
  return arith::SelectOp::create(b, l, invalid, c(0),
                                 arith::SubIOp::create(b, l, code, c(1)));
}

Value f32Const(OpBuilder &b, Location l, float v) {
  return arith::ConstantOp::create(b, l, b.getF32FloatAttr(v));
}

/// s[m] = 127 / max(max_k |x[m, k]|, 1e-5) (BitNet's per-token scale).
Value tokenScales(OpBuilder &b, Location loc, Value x2d) {
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  Value init = emptyRows(b, loc, x2d, {}, f32);
  Value acc =
      linalg::FillOp::create(b, loc, f32Const(b, loc, 0.0f), init).getResult(0);
  Value absmax =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{x2d}, ValueRange{acc},
          ArrayRef<AffineMap>{mapOf(ctx, 2, {0, 1}), mapOf(ctx, 2, {0})},
          iteratorsOf(1, 1),
          [](OpBuilder &nb, Location l, ValueRange args) {
            Value a = math::AbsFOp::create(nb, l, args[0]);
            linalg::YieldOp::create(
                nb, l, arith::MaxNumFOp::create(nb, l, args[1], a).getResult());
          })
          .getResult(0);
  Value init2 = emptyRows(b, loc, x2d, {}, f32);
  return linalg::GenericOp::create(
             b, loc, init2.getType(), ValueRange{absmax}, ValueRange{init2},
             ArrayRef<AffineMap>{mapOf(ctx, 1, {0}), mapOf(ctx, 1, {0})},
             iteratorsOf(1, 0),
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value m = arith::MaxNumFOp::create(
                   nb, l, args[0], f32Const(nb, l, ::qopt::kTernaryEps));
               linalg::YieldOp::create(
                   nb, l,
                   arith::DivFOp::create(nb, l, f32Const(nb, l, 127.0f), m)
                       .getResult());
             })
      .getResult(0);
}

struct BitLinearLowering : OpConversionPattern<BitLinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BitLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    Value x = collapseTo2D(rewriter, loc, adaptor.getInput());
    Value w = adaptor.getWeight(), bias = adaptor.getBias();
    auto wTy = cast<RankedTensorType>(w.getType());
    auto xTy = cast<RankedTensorType>(x.getType());
    int64_t n = wTy.getDimSize(0), kb = wTy.getDimSize(1);
    float gamma = float(op.getWeightScale().convertToDouble());
    // x as [M, K/4, 4]: byte b of a weight row meets x[m, 4b .. 4b+3].
    Value x3 = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({xTy.getDimSize(0), kb, 4}, f32),
        x, ArrayRef<ReassociationIndices>{{0}, {1, 2}},
        ArrayRef<OpFoldResult>{tensor::getMixedSize(rewriter, loc, x, 0),
                               rewriter.getIndexAttr(kb),
                               rewriter.getIndexAttr(4)});
    // Loops (m, n, b, j).
    AffineMap xMap = mapOf(ctx, 4, {0, 2, 3}), wMap = mapOf(ctx, 4, {1, 2}),
              mMap = mapOf(ctx, 4, {0}), outMap = mapOf(ctx, 4, {0, 1});
    Value y;
    if (op.getActivation() == BitLinearActivation::None) {
      // acc = x · tᵀ in f32 (the kernel's part), then y = acc · gamma + b.
      // gamma stays out of the contraction: element-wise fusion would fold
      // a constant operand into its body and change the kernel's operands.
      Value init = emptyRows(rewriter, loc, x, {n}, f32);
      Value acc = linalg::FillOp::create(rewriter, loc,
                                         f32Const(rewriter, loc, 0.0f), init)
                      .getResult(0);
      auto mm = linalg::GenericOp::create(
          rewriter, loc, acc.getType(), ValueRange{x3, w}, ValueRange{acc},
          ArrayRef<AffineMap>{xMap, wMap, outMap}, iteratorsOf(2, 2),
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value t =
                ternaryAt(b, l, args[1], linalg::IndexOp::create(b, l, 3));
            Value prod = arith::MulFOp::create(
                b, l, args[0], arith::SIToFPOp::create(b, l, f32, t));
            linalg::YieldOp::create(
                b, l, arith::AddFOp::create(b, l, args[2], prod).getResult());
          });
      mm.setLibraryCallAttr(rewriter.getStringAttr("qopt_kernel_matmul_f32t2"));
      SmallVector<Value> ins{mm.getResult(0)};
      SmallVector<AffineMap> maps{mapOf(ctx, 2, {0, 1})};
      if (bias) {
        ins.push_back(bias);
        maps.push_back(mapOf(ctx, 2, {1}));
      }
      maps.push_back(mapOf(ctx, 2, {0, 1}));
      Value out = emptyRows(rewriter, loc, x, {n}, f32);
      y = linalg::GenericOp::create(
              rewriter, loc, out.getType(), ins, ValueRange{out}, maps,
              iteratorsOf(2, 0),
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value v =
                    arith::MulFOp::create(b, l, args[0], f32Const(b, l, gamma));
                if (bias)
                  v = arith::AddFOp::create(b, l, v, args[1]);
                linalg::YieldOp::create(b, l, v);
              })
              .getResult(0);
    } else {
      Value s = tokenScales(rewriter, loc, x);
      Value init = emptyRows(rewriter, loc, x, {n}, i32);
      Value zero = arith::ConstantIntOp::create(rewriter, loc, 0, 32);
      Value acc =
          linalg::FillOp::create(rewriter, loc, zero, init).getResult(0);
      auto mm = linalg::GenericOp::create(
          rewriter, loc, acc.getType(), ValueRange{x3, s, w}, ValueRange{acc},
          ArrayRef<AffineMap>{xMap, mMap, wMap, outMap}, iteratorsOf(2, 2),
          [&](OpBuilder &b, Location l, ValueRange args) {
            // q = clamp(round_half_even(x · s), -128, 127); NaN -> 0.
            Value v = arith::MulFOp::create(b, l, args[0], args[1]);
            v = math::RoundEvenOp::create(b, l, v);
            v = arith::MaxNumFOp::create(b, l, v, f32Const(b, l, -128.0f));
            v = arith::MinNumFOp::create(b, l, v, f32Const(b, l, 127.0f));
            Value isNan = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO,
                                                args[0], args[0]);
            v = arith::SelectOp::create(b, l, isNan, f32Const(b, l, 0.0f), v);
            Value q = arith::FPToSIOp::create(b, l, i32, v);
            Value t =
                ternaryAt(b, l, args[2], linalg::IndexOp::create(b, l, 3));
            Value prod = arith::MulIOp::create(b, l, q, t);
            linalg::YieldOp::create(
                b, l, arith::AddIOp::create(b, l, args[3], prod).getResult());
          });
      mm.setLibraryCallAttr(rewriter.getStringAttr("qopt_kernel_matmul_s8t2"));
      // y = float(acc) · gamma / s[m] + bias[n].
      SmallVector<Value> ins{mm.getResult(0), s};
      SmallVector<AffineMap> maps{mapOf(ctx, 2, {0, 1}), mapOf(ctx, 2, {0})};
      if (bias) {
        ins.push_back(bias);
        maps.push_back(mapOf(ctx, 2, {1}));
      }
      maps.push_back(mapOf(ctx, 2, {0, 1}));
      Value out = emptyRows(rewriter, loc, x, {n}, f32);
      y = linalg::GenericOp::create(
              rewriter, loc, out.getType(), ins, ValueRange{out}, maps,
              iteratorsOf(2, 0),
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value v = arith::MulFOp::create(
                    b, l, arith::SIToFPOp::create(b, l, f32, args[0]),
                    f32Const(b, l, gamma));
                v = arith::DivFOp::create(b, l, v, args[1]);
                if (bias)
                  v = arith::AddFOp::create(b, l, v, args[2]);
                linalg::YieldOp::create(b, l, v);
              })
              .getResult(0);
    }
    rewriter.replaceOp(op, expandFrom2D(rewriter, loc, y, adaptor.getInput(),
                                        op.getResult().getType()));
    return success();
  }
};

} // namespace

void mlir::qopt::populateBitLinearToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<BitLinearLowering>(patterns.getContext());
}
