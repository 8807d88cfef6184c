//===- KernelViews.cpp - runtime kernel calls placed on tensors -----------===//

#include "KernelViews.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;

namespace {

MemRefType stridedType(MLIRContext *ctx, int64_t rank, Type elem) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic);
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  auto layout =
      StridedLayoutAttr::get(ctx, ShapedType::kDynamic, ArrayRef(strides));
  return MemRefType::get(shape, elem, layout);
}

} // namespace

Value mlir::qopt::kernelViewOfBuffer(OpBuilder &b, Location loc, Value memref,
                                     ArrayRef<int64_t> srcDims,
                                     ArrayRef<Value> sizes) {
  auto meta = memref::ExtractStridedMetadataOp::create(b, loc, memref);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  SmallVector<OpFoldResult> strides, sz;
  for (auto [i, d] : llvm::enumerate(srcDims)) {
    strides.push_back(d < 0 ? zero : meta.getStrides()[d]);
    sz.push_back(sizes[i]);
  }
  auto type = stridedType(b.getContext(), srcDims.size(),
                          cast<MemRefType>(memref.getType()).getElementType());
  return memref::ReinterpretCastOp::create(
      b, loc, type, memref, OpFoldResult(meta.getOffset()), sz, strides);
}

Value mlir::qopt::kernelView(OpBuilder &b, Location loc, Value tensor,
                             ArrayRef<int64_t> srcDims, ArrayRef<Value> sizes) {
  auto tTy = cast<RankedTensorType>(tensor.getType());
  auto bufTy = stridedType(b.getContext(), tTy.getRank(), tTy.getElementType());
  // A fully dynamic layout: bufferization never needs a copy to provide it.
  SmallVector<int64_t> shape(tTy.getShape());
  auto layout = cast<StridedLayoutAttr>(bufTy.getLayout());
  auto exact = MemRefType::get(shape, tTy.getElementType(), layout);
  Value buf = bufferization::ToBufferOp::create(b, loc, exact, tensor,
                                                /*read_only=*/true);
  return kernelViewOfBuffer(b, loc, buf, srcDims, sizes);
}

Value mlir::qopt::allocLike(OpBuilder &b, Location loc, Value like) {
  auto tTy = cast<RankedTensorType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < tTy.getRank(); ++d)
    if (tTy.isDynamicDim(d))
      dyn.push_back(tensor::DimOp::create(b, loc, like, d));
  auto type = MemRefType::get(tTy.getShape(), tTy.getElementType());
  return memref::AllocOp::create(b, loc, type, dyn, b.getI64IntegerAttr(64));
}

Value mlir::qopt::bufferAsTensor(OpBuilder &b, Location loc, Value buffer) {
  auto mTy = cast<MemRefType>(buffer.getType());
  auto tTy = RankedTensorType::get(mTy.getShape(), mTy.getElementType());
  return bufferization::ToTensorOp::create(b, loc, tTy, buffer,
                                           /*restrict=*/true,
                                           /*writable=*/true);
}

void mlir::qopt::createViewsCall(OpBuilder &b, Location loc,
                                 Operation *inModule, StringRef name,
                                 ValueRange args) {
  auto module = inModule->getParentOfType<ModuleOp>();
  FunctionType type = b.getFunctionType(TypeRange(args), {});
  // One declaration per operand signature: qopt_views.NAME.0, .1, ...
  func::FuncOp fn;
  for (unsigned k = 0; !fn; ++k) {
    std::string full = (kKernelViewsPrefix + name + "." + Twine(k)).str();
    fn = module.lookupSymbol<func::FuncOp>(full);
    if (fn && fn.getFunctionType() != type) {
      fn = nullptr;
      continue;
    }
    if (!fn) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      fn = func::FuncOp::create(b, module.getLoc(), full, type);
      fn.setPrivate();
    }
  }
  func::CallOp::create(b, loc, fn, args);
}

Value mlir::qopt::i64Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 64);
}

Value mlir::qopt::dimOf(OpBuilder &b, Location loc, Value tensor, int64_t d) {
  auto tTy = cast<RankedTensorType>(tensor.getType());
  if (!tTy.isDynamicDim(d))
    return arith::ConstantIndexOp::create(b, loc, tTy.getDimSize(d));
  return tensor::DimOp::create(b, loc, tensor, d);
}

Value mlir::qopt::asI64(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

std::optional<float> mlir::qopt::scalarConstantIn(linalg::GenericOp op,
                                                  Value v) {
  FloatAttr f;
  if (matchPattern(v, m_Constant(&f)))
    return float(f.getValueAsDouble());
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || arg.getOwner() != op.getBlock() ||
      arg.getArgNumber() >= unsigned(op.getNumDpsInputs()))
    return std::nullopt;
  DenseElementsAttr dense;
  if (!matchPattern(op.getDpsInputs()[arg.getArgNumber()],
                    m_Constant(&dense)) ||
      !dense.isSplat() || !dense.getElementType().isF32())
    return std::nullopt;
  return dense.getSplatValue<float>();
}

std::optional<float> mlir::qopt::filledWith(Value v) {
  auto fill = v.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return std::nullopt;
  FloatAttr f;
  if (!matchPattern(fill.getInputs()[0], m_Constant(&f)))
    return std::nullopt;
  return float(f.getValueAsDouble());
}

bool mlir::qopt::allParallel(linalg::GenericOp op) {
  return llvm::all_of(op.getIteratorTypesArray(), [](utils::IteratorType t) {
    return t == utils::IteratorType::parallel;
  });
}

Value mlir::qopt::yielded(linalg::GenericOp op) {
  auto y = cast<linalg::YieldOp>(op.getBlock()->getTerminator());
  return y.getNumOperands() == 1 ? y.getOperand(0) : Value();
}

bool mlir::qopt::onlyUsedBy(Value v, ArrayRef<Operation *> users) {
  return llvm::all_of(
      v.getUsers(), [&](Operation *u) { return llvm::is_contained(users, u); });
}

/// A reduction of `s` over its last dim into an init `fill(c)`: c.
std::optional<float> mlir::qopt::lastDimReduction(linalg::GenericOp op,
                                                  Value s) {
  if (!op || !op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1 || op.getDpsInputs()[0] != s)
    return std::nullopt;
  auto iters = op.getIteratorTypesArray();
  int64_t rank = cast<RankedTensorType>(s.getType()).getRank();
  if (int64_t(iters.size()) != rank)
    return std::nullopt;
  for (int64_t i = 0; i < rank; ++i)
    if ((iters[i] == utils::IteratorType::reduction) != (i == rank - 1))
      return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!maps[0].isIdentity() || maps.back() != maps[0].dropResult(rank - 1))
    return std::nullopt;
  return filledWith(op.getDpsInits()[0]);
}
