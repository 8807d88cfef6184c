//===- ExpandSmallFloatCasts.cpp - float8/float4 conversions on the bits --===//

#include "qopt/Codegen/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <limits>

namespace mlir::qopt {
#define GEN_PASS_DEF_EXPANDSMALLFLOATCASTSPASS
#include "qopt/Codegen/CPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

/// What the rewrite needs to know of a small float format.
struct Format {
  unsigned bits;
  SmallVector<float> values;    // by code (NaN where the code is NaN)
  SmallVector<float> midpoints; // between positive finite values 0..K-1
  int64_t numPositive;          // K: codes 0..K-1 are the finite values >= 0
  int64_t overflowCode;         // code for |x| beyond the largest value
  int64_t nanCode;              // -1: the format has no NaN
  bool negativeZero;            // whether code signBit|0 is -0
};

std::optional<Format> formatOf(Type t) {
  auto ft = dyn_cast<FloatType>(t);
  if (!ft || !(isa<Float8E4M3FNType, Float8E4M3FNUZType, Float8E5M2Type,
                   Float8E5M2FNUZType, Float4E2M1FNType>(ft)))
    return std::nullopt;
  const llvm::fltSemantics &sem = ft.getFloatSemantics();
  Format f;
  f.bits = ft.getWidth();
  uint64_t codes = 1ull << f.bits, signBit = codes >> 1;
  f.nanCode = -1;
  int64_t infCode = -1;
  for (uint64_t c = 0; c < codes; ++c) {
    llvm::APFloat v(sem, llvm::APInt(f.bits, c));
    if (v.isNaN() && f.nanCode < 0)
      f.nanCode = int64_t(c);
    if (v.isInfinity() && !v.isNegative() && infCode < 0)
      infCode = int64_t(c);
    f.values.push_back(v.isNaN() ? std::numeric_limits<float>::quiet_NaN()
                                 : v.convertToFloat());
  }
  f.numPositive = 0;
  while (uint64_t(f.numPositive) < signBit &&
         std::isfinite(f.values[f.numPositive]))
    ++f.numPositive;
  for (int64_t i = 0; i + 1 < f.numPositive; ++i)
    f.midpoints.push_back((f.values[i] + f.values[i + 1]) / 2);
  f.overflowCode = infCode >= 0     ? infCode
                   : f.nanCode >= 0 ? f.nanCode
                                    : f.numPositive - 1;
  f.negativeZero = !llvm::APFloat(sem, llvm::APInt(f.bits, signBit)).isNaN();
  return f;
}

/// A constant table as a tensor, created at the start of the function.
Value tableConstant(PatternRewriter &rewriter, Operation *at,
                    ArrayRef<float> values) {
  auto fn = at->getParentOfType<func::FuncOp>();
  OpBuilder::InsertionGuard guard(rewriter);
  if (fn)
    rewriter.setInsertionPointToStart(&fn.getBody().front());
  auto type =
      RankedTensorType::get({int64_t(values.size())}, rewriter.getF32Type());
  return arith::ConstantOp::create(rewriter, at->getLoc(),
                                   DenseElementsAttr::get(type, values));
}

struct ExpandExt : OpRewritePattern<arith::ExtFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::ExtFOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<Format> f = formatOf(op.getIn().getType());
    if (!f)
      return failure();
    Location loc = op.getLoc();
    Value table = tableConstant(rewriter, op, f->values);
    Value bits = arith::BitcastOp::create(
        rewriter, loc, rewriter.getIntegerType(f->bits), op.getIn());
    Value idx = arith::IndexCastUIOp::create(rewriter, loc,
                                             rewriter.getIndexType(), bits);
    Value v = tensor::ExtractOp::create(rewriter, loc, table, idx);
    // Other float results (f16, bf16, f64) from f32: every small-float
    // value is exact in each of them.
    auto to = cast<FloatType>(op.getType());
    if (to.getWidth() > 32)
      v = arith::ExtFOp::create(rewriter, loc, to, v);
    else if (!to.isF32())
      v = arith::TruncFOp::create(rewriter, loc, to, v);
    rewriter.replaceOp(op, v);
    return success();
  }
};

struct ExpandTrunc : OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<Format> f = formatOf(op.getType());
    if (!f)
      return failure();
    Location loc = op.getLoc();
    Type codeTy = rewriter.getIntegerType(f->bits);
    auto cIdx = [&](int64_t v) {
      return arith::ConstantIndexOp::create(rewriter, loc, v);
    };
    auto cCode = [&](int64_t v) {
      return arith::ConstantIntOp::create(rewriter, loc, codeTy, v);
    };
    // From f16/bf16 (canonicalization merges their extension to f32 into
    // this truncf) exactly through f32; from f64 through f32.
    Value x = op.getIn();
    auto from = cast<FloatType>(x.getType());
    if (from.getWidth() < 32)
      x = arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), x);
    else if (from.getWidth() > 32)
      x = arith::TruncFOp::create(rewriter, loc, rewriter.getF32Type(), x);
    Value a = math::AbsFOp::create(rewriter, loc, x);
    Value mids = tableConstant(rewriter, op, f->midpoints);
    // Rank of |x| among the finite values: the largest pos with
    // midpoint[pos - 1] < |x| (== rounds to the even code).
    Value pos = cIdx(0);
    int64_t k = f->numPositive;
    for (int64_t step = int64_t(llvm::PowerOf2Ceil(k)) / 2; step >= 1;
         step /= 2) {
      Value cand = arith::AddIOp::create(rewriter, loc, pos, cIdx(step));
      // Clamp the probe into the table; out-of-range candidates never win.
      Value probe = arith::MinUIOp::create(
          rewriter, loc, arith::SubIOp::create(rewriter, loc, cand, cIdx(1)),
          cIdx(k - 2));
      Value mid = tensor::ExtractOp::create(rewriter, loc, mids, probe);
      Value inRange = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::ule, cand, cIdx(k - 1));
      Value above = arith::CmpFOp::create(rewriter, loc,
                                          arith::CmpFPredicate::OGT, a, mid);
      Value tie = arith::CmpFOp::create(rewriter, loc,
                                        arith::CmpFPredicate::OEQ, a, mid);
      Value candBits = arith::IndexCastUIOp::create(
          rewriter, loc, rewriter.getI64Type(), cand);
      Value even = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq,
          arith::AndIOp::create(
              rewriter, loc, candBits,
              arith::ConstantIntOp::create(rewriter, loc, 1, 64)),
          arith::ConstantIntOp::create(rewriter, loc, 0, 64));
      Value take = arith::AndIOp::create(
          rewriter, loc, inRange,
          arith::OrIOp::create(
              rewriter, loc, above,
              arith::AndIOp::create(rewriter, loc, tie, even)));
      pos = arith::SelectOp::create(rewriter, loc, take, cand, pos);
    }
    Value code = arith::IndexCastUIOp::create(rewriter, loc, codeTy, pos);
    // Beyond the largest value (by more than half a step): overflow.
    float largest = f->values[k - 1];
    float limit = largest + (largest - f->values[k - 2]) / 2;
    Value over = arith::CmpFOp::create(
        rewriter, loc, arith::CmpFPredicate::OGT, a,
        arith::ConstantFloatOp::create(rewriter, loc, rewriter.getF32Type(),
                                       llvm::APFloat(limit)));
    code = arith::SelectOp::create(rewriter, loc, over, cCode(f->overflowCode),
                                   code);
    // The sign: negative inputs, but no -0 where the format has none.
    int64_t signBit = int64_t(1) << (f->bits - 1);
    Value xBits =
        arith::BitcastOp::create(rewriter, loc, rewriter.getI32Type(), x);
    Value negative = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::slt, xBits,
        arith::ConstantIntOp::create(rewriter, loc, 0, 32));
    if (!f->negativeZero)
      negative = arith::AndIOp::create(
          rewriter, loc, negative,
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ne, code,
                                cCode(0)));
    bool overflowIsNaN = f->overflowCode == f->nanCode;
    Value signed_ = arith::OrIOp::create(rewriter, loc, code, cCode(signBit));
    Value withSign =
        arith::SelectOp::create(rewriter, loc, negative, signed_, code);
    // A NaN overflow code of an FNUZ format already is the NaN (0x80).
    if (overflowIsNaN && f->nanCode == signBit)
      withSign = arith::SelectOp::create(rewriter, loc, over, cCode(f->nanCode),
                                         withSign);
    if (f->nanCode >= 0) {
      Value isNaN =
          arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::UNO, x, x);
      withSign = arith::SelectOp::create(rewriter, loc, isNaN,
                                         cCode(f->nanCode), withSign);
    }
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, op.getType(), withSign);
    return success();
  }
};

struct ExpandSmallFloatCastsPass
    : qopt::impl::ExpandSmallFloatCastsPassBase<ExpandSmallFloatCastsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandExt, ExpandTrunc>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
