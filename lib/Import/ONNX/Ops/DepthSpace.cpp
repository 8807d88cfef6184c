//===- DepthSpace.cpp - DepthToSpace, SpaceToDepth ------------------------===//
//
// Both rearrange blocks between the channel and the spatial dims:
// expand_shape + linalg.transpose + collapse_shape.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// `ofr * f` or `ofr / f` (f > 0), folded when static.
OpFoldResult scaleOFR(OpBuilder &b, Location loc, OpFoldResult ofr, int64_t f,
                      bool divide) {
  if (std::optional<int64_t> c = getConstantIntValue(ofr))
    return b.getIndexAttr(divide ? *c / f : *c * f);
  Value v = cast<Value>(ofr), fv = cIndex(b, loc, f);
  if (divide)
    return arith::DivUIOp::create(b, loc, v, fv).getResult();
  return arith::MulIOp::create(b, loc, v, fv).getResult();
}

/// expand_shape to `expanded` (sizes), transpose by `perm`, collapse_shape
/// with `collapse`.
Value expandTransposeCollapse(OpBuilder &b, Location loc, Value x,
                              ArrayRef<ReassociationIndices> expandRe,
                              ArrayRef<OpFoldResult> expanded,
                              ArrayRef<int64_t> perm,
                              ArrayRef<ReassociationIndices> collapseRe) {
  Type elemTy = cast<RankedTensorType>(x.getType()).getElementType();
  auto staticOf = [](ArrayRef<OpFoldResult> s) {
    SmallVector<int64_t> out;
    for (OpFoldResult o : s)
      out.push_back(getConstantIntValue(o).value_or(ShapedType::kDynamic));
    return out;
  };
  auto eTy = RankedTensorType::get(staticOf(expanded), elemTy);
  Value e = tensor::ExpandShapeOp::create(b, loc, eTy, x, expandRe, expanded);
  SmallVector<OpFoldResult> tSizes;
  for (int64_t p : perm)
    tSizes.push_back(expanded[p]);
  Value init = tensor::EmptyOp::create(b, loc, tSizes, elemTy);
  Value t = linalg::TransposeOp::create(b, loc, e, init, perm).getResult()[0];
  return tensor::CollapseShapeOp::create(b, loc, t, collapseRe);
}

LogicalResult buildDepthToSpace(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> bs = n.getRequiredInt("blocksize");
  if (failed(bs))
    return failure();
  std::string mode = "DCR";
  if (n.opset >= 11) {
    FailureOr<std::string> m = n.getString("mode", "DCR");
    if (failed(m))
      return failure();
    mode = *m;
    if (mode != "DCR" && mode != "CRD")
      return n.emitError() << "mode '" << mode
                           << "' is not one of 'DCR', 'CRD'";
  }
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() != 4)
    return n.emitError() << "input must be 4-D [N, C, H, W], got rank "
                         << ty.getRank();
  int64_t bsz = *bs;
  if (bsz < 1)
    return n.emitError() << "blocksize must be >= 1, got " << bsz;
  if (!ty.isDynamicDim(1) && ty.getDimSize(1) % (bsz * bsz) != 0)
    return n.emitError() << "channels (" << ty.getDimSize(1)
                         << ") must be divisible by blocksize^2 (" << bsz * bsz
                         << ")";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  OpFoldResult N = dimOFR(b, loc, x, 0), C = dimOFR(b, loc, x, 1),
               H = dimOFR(b, loc, x, 2), W = dimOFR(b, loc, x, 3);
  OpFoldResult Cb = scaleOFR(b, loc, C, bsz * bsz, /*divide=*/true);
  OpFoldResult B = b.getIndexAttr(bsz);
  bool dcr = mode == "DCR";
  // DCR: [N, b, b, C', H, W]; CRD: [N, C', b, b, H, W]; both are permuted to
  // [N, C', H, b, W, b].
  SmallVector<OpFoldResult> expanded =
      dcr ? SmallVector<OpFoldResult>{N, B, B, Cb, H, W}
          : SmallVector<OpFoldResult>{N, Cb, B, B, H, W};
  SmallVector<int64_t> perm = dcr ? SmallVector<int64_t>{0, 3, 4, 1, 5, 2}
                                  : SmallVector<int64_t>{0, 1, 4, 2, 5, 3};
  Value y = expandTransposeCollapse(b, loc, x, {{0}, {1, 2, 3}, {4}, {5}},
                                    expanded, perm, {{0}, {1}, {2, 3}, {4, 5}});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

LogicalResult buildSpaceToDepth(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, 1)))
    return failure();
  FailureOr<int64_t> bs = n.getRequiredInt("blocksize");
  if (failed(bs))
    return failure();
  RankedTensorType ty = n.inputType(0);
  if (ty.getRank() != 4)
    return n.emitError() << "input must be 4-D [N, C, H, W], got rank "
                         << ty.getRank();
  // Opset 28 adds DepthToSpace's modes: DCR (the old order) and CRD.
  std::string mode = "DCR";
  if (n.opset >= 28) {
    FailureOr<std::string> m = n.getString("mode", "DCR");
    if (failed(m))
      return failure();
    mode = *m;
    if (mode != "DCR" && mode != "CRD")
      return n.emitError() << "mode '" << mode
                           << "' is not one of 'DCR', 'CRD'";
  }
  int64_t bsz = *bs;
  if (bsz < 1)
    return n.emitError() << "blocksize must be >= 1, got " << bsz;
  for (int64_t d : {2, 3})
    if (!ty.isDynamicDim(d) && ty.getDimSize(d) % bsz != 0)
      return n.emitError() << (d == 2 ? "height" : "width") << " ("
                           << ty.getDimSize(d)
                           << ") must be divisible by blocksize (" << bsz
                           << ")";
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value x = n.input(0);
  OpFoldResult N = dimOFR(b, loc, x, 0), C = dimOFR(b, loc, x, 1);
  OpFoldResult Hb = scaleOFR(b, loc, dimOFR(b, loc, x, 2), bsz, true);
  OpFoldResult Wb = scaleOFR(b, loc, dimOFR(b, loc, x, 3), bsz, true);
  OpFoldResult B = b.getIndexAttr(bsz);
  // [N, C, H', b, W', b] -> DCR [N, b, b, C, H', W'] or CRD
  // [N, C, b, b, H', W'] -> [N, C*b*b, H', W'].
  SmallVector<int64_t> perm = mode == "DCR"
                                  ? SmallVector<int64_t>{0, 3, 5, 1, 2, 4}
                                  : SmallVector<int64_t>{0, 1, 3, 5, 2, 4};
  Value y = expandTransposeCollapse(b, loc, x, {{0}, {1}, {2, 3}, {4, 5}},
                                    {N, C, Hb, B, Wb, B}, perm,
                                    {{0}, {1, 2, 3}, {4}, {5}});
  n.setOutput(0, y, n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerDepthSpaceOps(OpRegistry &r) {
  r.add("", "DepthToSpace", 1, buildDepthToSpace);
  r.add("", "DepthToSpace", 11, buildDepthToSpace); // mode
  r.add("", "SpaceToDepth", 1, buildSpaceToDepth);
  r.add("", "SpaceToDepth", 28, buildSpaceToDepth); // mode
}
