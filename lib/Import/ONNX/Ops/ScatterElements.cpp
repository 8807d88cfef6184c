//===- ScatterElements.cpp - ScatterElements and Scatter ------------------===//
//
// output = copy of data; for every position p of indices (in order, so a
// repeated index takes the last update, or combines all with a reduction):
// output[p with p[axis] = indices[p]] (op)= updates[p]. An scf.for nest over
// indices' shape inserting into the copy, as ScatterND. Negative indices
// count from the end; indices outside [-size, size) are a run-time error
// naming the node (onnxruntime refuses them too). Scatter (opsets 9-10) is
// ScatterElements without a reduction.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

OpBuilderFn scatterElements(bool withReduction) {
  return [withReduction](ONNXNode &n) -> LogicalResult {
    if (failed(n.checkArity(3, 3, 1, 1)))
      return failure();
    FailureOr<int64_t> axisAttr = n.getInt("axis", 0);
    if (failed(axisAttr))
      return failure();
    std::string reduction = "none";
    if (withReduction) {
      FailureOr<std::string> red = n.getString("reduction", "none");
      if (failed(red))
        return failure();
      reduction = *red;
      bool ok = reduction == "none" || reduction == "add" ||
                reduction == "mul" ||
                (n.opset >= 18 && (reduction == "max" || reduction == "min"));
      if (!ok)
        return n.emitError() << "reduction '" << reduction
                             << "' is not one of 'none', 'add', 'mul'"
                             << (n.opset >= 18 ? ", 'max', 'min'" : "");
    }
    if (n.inputDType(1) != kInt32 && n.inputDType(1) != kInt64)
      return n.emitError() << "indices must be int32 or int64, got "
                           << dtypeName(n.inputDType(1));
    if (n.inputDType(2) != n.inputDType(0))
      return n.emitError() << "updates have dtype "
                           << dtypeName(n.inputDType(2)) << ", data has "
                           << dtypeName(n.inputDType(0));
    RankedTensorType dTy = n.inputType(0), iTy = n.inputType(1),
                     uTy = n.inputType(2);
    int64_t r = dTy.getRank();
    if (r < 1)
      return n.emitError() << "data must have rank >= 1";
    if (iTy.getRank() != r || uTy.getRank() != r)
      return n.emitError() << "indices and updates must have data's rank " << r
                           << ", got " << iTy.getRank() << " and "
                           << uTy.getRank();
    for (int64_t i = 0; i < r; ++i)
      if (!iTy.isDynamicDim(i) && !uTy.isDynamicDim(i) &&
          iTy.getDimSize(i) != uTy.getDimSize(i))
        return n.emitError()
               << "indices and updates differ in dim " << i << " ("
               << iTy.getDimSize(i) << " vs " << uTy.getDimSize(i) << ")";
    FailureOr<int64_t> axis = n.normalizeAxis(*axisAttr, r);
    if (failed(axis))
      return failure();
    int64_t ax = *axis;

    OpBuilder &b = n.b;
    Location loc = n.loc;
    b.getContext()->getOrLoadDialect<scf::SCFDialect>();
    Value data = n.input(0), indices = n.input(1), updates = n.input(2);
    Type elemTy = dTy.getElementType();
    bool isFloat = isa<FloatType>(elemTy);
    bool isUnsigned = isUnsignedDType(n.inputDType(0));
    if (reduction != "none" && elemTy.isInteger(1))
      return n.emitError() << "reduction '" << reduction
                           << "' is not supported for bool";
    for (int64_t i = 0; i < r; ++i)
      assertSameSize(n, indices, i, updates, i,
                     "indices and updates differ in dim " + Twine(i) +
                         " at run time");
    // Outside the axis, indices' positions must lie inside data.
    for (int64_t i = 0; i < r; ++i) {
      if (i == ax)
        continue;
      if (!iTy.isDynamicDim(i) && !dTy.isDynamicDim(i)) {
        if (iTy.getDimSize(i) > dTy.getDimSize(i))
          return n.emitError()
                 << "indices dim " << i << " (" << iTy.getDimSize(i)
                 << ") exceeds data's (" << dTy.getDimSize(i) << ")";
        continue;
      }
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                       dimValue(b, loc, indices, i),
                                       dimValue(b, loc, data, i));
      assertAtRunTime(
          n, ok, "indices dim " + Twine(i) + " exceeds data's at run time");
    }
    Value axSize = dimValue(b, loc, data, ax);
    Type idxElem = iTy.getElementType();
    Value axSizeI = arith::IndexCastOp::create(b, loc, idxElem, axSize);
    assertNoElement(
        n, indices,
        [&](OpBuilder &nb, Location l, Value v) -> Value {
          Value neg = arith::SubIOp::create(
              nb, l, arith::ConstantIntOp::create(nb, l, idxElem, 0), axSizeI);
          return arith::OrIOp::create(
              nb, l,
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, v, neg),
              arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, v,
                                    axSizeI));
        },
        "indices (input #1) hold a value outside [-size, size) of the axis");

    // Scatter into a copy (bufferized in place, a function argument would
    // be returned itself; see ScatterND).
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < r; ++i)
      sizes.push_back(dimOFR(b, loc, data, i));
    Value init = tensor::EmptyOp::create(b, loc, sizes, elemTy);
    Value out = linalg::CopyOp::create(b, loc, data, init).getResult(0);
    SmallVector<Value> lbs, ubs, steps;
    for (int64_t i = 0; i < r; ++i) {
      lbs.push_back(cIndex(b, loc, 0));
      ubs.push_back(dimValue(b, loc, indices, i));
      steps.push_back(cIndex(b, loc, 1));
    }
    scf::LoopNest nest = scf::buildLoopNest(
        b, loc, lbs, ubs, steps, ValueRange{out},
        [&](OpBuilder &nb, Location l, ValueRange ivs,
            ValueRange iter) -> scf::ValueVector {
          using namespace arith;
          Value iv = tensor::ExtractOp::create(nb, l, indices, ivs);
          Value idx = IndexCastOp::create(nb, l, nb.getIndexType(), iv);
          Value wrapped = SelectOp::create(
              nb, l,
              CmpIOp::create(nb, l, CmpIPredicate::slt, idx, cIndex(nb, l, 0)),
              AddIOp::create(nb, l, idx, axSize), idx);
          SmallVector<Value> dest(ivs.begin(), ivs.end());
          dest[ax] = wrapped;
          Value u = tensor::ExtractOp::create(nb, l, updates, ivs);
          if (reduction != "none") {
            Value old = tensor::ExtractOp::create(nb, l, iter[0], dest);
            if (reduction == "add")
              u = isFloat ? AddFOp::create(nb, l, old, u).getResult()
                          : AddIOp::create(nb, l, old, u).getResult();
            else if (reduction == "mul")
              u = isFloat ? MulFOp::create(nb, l, old, u).getResult()
                          : MulIOp::create(nb, l, old, u).getResult();
            else if (reduction == "max")
              u = isFloat      ? MaximumFOp::create(nb, l, old, u).getResult()
                  : isUnsigned ? MaxUIOp::create(nb, l, old, u).getResult()
                               : MaxSIOp::create(nb, l, old, u).getResult();
            else
              u = isFloat      ? MinimumFOp::create(nb, l, old, u).getResult()
                  : isUnsigned ? MinUIOp::create(nb, l, old, u).getResult()
                               : MinSIOp::create(nb, l, old, u).getResult();
          }
          return {
              tensor::InsertOp::create(nb, l, u, iter[0], dest).getResult()};
        });
    n.setOutput(0, nest.results.front(), n.inputDType(0));
    return success();
  };
}

} // namespace

void mlir::qopt::onnx_import::registerScatterElementsOps(OpRegistry &r) {
  r.add("", "Scatter", 9, scatterElements(/*withReduction=*/false));
  r.add("", "ScatterElements", 11, scatterElements(/*withReduction=*/false));
  r.add("", "ScatterElements", 16, scatterElements(/*withReduction=*/true));
}
