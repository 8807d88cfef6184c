//===- Einsum.cpp - Einsum ------------------------------------------------===//
//
// One contraction linalg.generic built from the equation: the output
// indices are its parallel loops, the summed ones its reduction loops.
//
//===----------------------------------------------------------------------===//

#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <map>

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

LogicalResult buildEinsum(ONNXNode &n) {
  if (n.numInputs() < 1)
    return n.emitError() << "takes at least 1 input";
  if (failed(n.checkArity(1, n.numInputs(), 1, 1)))
    return failure();
  FailureOr<std::string> eqAttr = n.getString("equation", "");
  if (failed(eqAttr))
    return failure();
  std::string eq;
  for (char c : *eqAttr)
    if (c != ' ')
      eq.push_back(c);
  if (eq.empty())
    return n.emitError() << "attribute 'equation' is required";
  if (eq.find('.') != std::string::npos)
    return n.emitError() << "equation '" << *eqAttr
                         << "': ellipsis ('...') is not supported";
  int64_t numIn = n.numInputs();
  for (int64_t i = 0; i < numIn; ++i) {
    if (!n.hasInput(i))
      return n.emitError() << "input #" << i << " is missing";
    if (n.inputDType(i) != n.inputDType(0))
      return n.emitError() << "input #" << i << " has dtype "
                           << dtypeName(n.inputDType(i)) << ", input #0 has "
                           << dtypeName(n.inputDType(0));
  }
  if (n.inputDType(0) == kBool)
    return n.emitError() << "bool inputs are not supported";

  StringRef eqRef(eq);
  auto [lhs, rhs] = eqRef.split("->");
  bool explicitOut = eqRef.contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (static_cast<int64_t>(terms.size()) != numIn)
    return n.emitError() << "equation '" << *eqAttr << "' has " << terms.size()
                         << " operand(s), the node has " << numIn
                         << " input(s)";
  auto isLetter = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  };
  std::map<char, int64_t> count;
  SmallVector<char> order; // letters by first appearance
  for (auto [i, t] : llvm::enumerate(terms)) {
    for (auto [p, c] : llvm::enumerate(t)) {
      if (!isLetter(c))
        return n.emitError() << "equation '" << *eqAttr
                             << "': unexpected character '" << c << "'";
      if (t.find(c) != p)
        return n.emitError() << "equation '" << *eqAttr << "': operand " << i
                             << " repeats index '" << c
                             << "' (diagonals/traces are not supported)";
      if (count[c]++ == 0)
        order.push_back(c);
    }
    if (static_cast<int64_t>(t.size()) != n.inputType(i).getRank())
      return n.emitError() << "equation '" << *eqAttr << "': operand " << i
                           << " has " << t.size() << " indices, input #" << i
                           << " has rank " << n.inputType(i).getRank();
  }
  std::string out;
  if (explicitOut) {
    for (auto [p, c] : llvm::enumerate(rhs)) {
      if (!isLetter(c))
        return n.emitError() << "equation '" << *eqAttr
                             << "': unexpected character '" << c << "'";
      if (rhs.find(c) != p)
        return n.emitError() << "equation '" << *eqAttr
                             << "': output repeats index '" << c << "'";
      if (!count.count(c))
        return n.emitError() << "equation '" << *eqAttr << "': output index '"
                             << c << "' appears in no operand";
      out.push_back(c);
    }
  } else { // implicit: the indices seen once, alphabetically
    for (auto &[c, k] : count)
      if (k == 1)
        out.push_back(c);
  }

  // Loop dims: output indices first, then the summed ones.
  SmallVector<char> loops(out.begin(), out.end());
  for (char c : order)
    if (out.find(c) == std::string::npos)
      loops.push_back(c);
  auto pos = [&](char c) {
    return static_cast<int64_t>(llvm::find(loops, c) - loops.begin());
  };
  // Each index's size: static sizes must agree; otherwise read a dim.
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  std::map<char, int64_t> sizeOf;
  std::map<char, std::pair<int64_t, int64_t>> dynSource;
  for (auto [i, t] : llvm::enumerate(terms)) {
    RankedTensorType ty = n.inputType(i);
    for (auto [p, c] : llvm::enumerate(t)) {
      int64_t d = ty.getDimSize(p);
      if (ShapedType::isDynamic(d)) {
        dynSource.try_emplace(c, i, p);
        continue;
      }
      auto [it, inserted] = sizeOf.try_emplace(c, d);
      if (!inserted && it->second != d)
        return n.emitError() << "equation '" << *eqAttr << "': index '" << c
                             << "' has size " << it->second << " and " << d;
    }
  }
  SmallVector<OpFoldResult> outSizes;
  for (char c : out) {
    if (sizeOf.count(c))
      outSizes.push_back(b.getIndexAttr(sizeOf[c]));
    else
      outSizes.push_back(tensor::DimOp::create(b, loc,
                                               n.input(dynSource[c].first),
                                               dynSource[c].second)
                             .getResult());
  }
  SmallVector<AffineMap> maps;
  SmallVector<Value> ins;
  for (auto [i, t] : llvm::enumerate(terms)) {
    SmallVector<AffineExpr> e;
    for (char c : t)
      e.push_back(getAffineDimExpr(pos(c), ctx));
    maps.push_back(AffineMap::get(loops.size(), 0, e, ctx));
    ins.push_back(n.input(i));
  }
  maps.push_back(dimRangeMap(ctx, loops.size(), 0, out.size()));
  Type elemTy = n.inputType(0).getElementType();
  Value init = tensor::EmptyOp::create(b, loc, outSizes, elemTy);
  Value acc =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elemTy, 0), init)
          .getResult(0);
  SmallVector<utils::IteratorType> iters(loops.size(),
                                         utils::IteratorType::parallel);
  for (size_t i = out.size(); i < loops.size(); ++i)
    iters[i] = utils::IteratorType::reduction;
  bool isFloat = isa<FloatType>(elemTy);
  auto g = linalg::GenericOp::create(
      b, loc, acc.getType(), ins, ValueRange{acc}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value p = args[0];
        for (Value v : args.drop_front().drop_back())
          p = isFloat ? arith::MulFOp::create(nb, l, p, v).getResult()
                      : arith::MulIOp::create(nb, l, p, v).getResult();
        Value s =
            isFloat ? arith::AddFOp::create(nb, l, args.back(), p).getResult()
                    : arith::AddIOp::create(nb, l, args.back(), p).getResult();
        linalg::YieldOp::create(nb, l, s);
      });
  n.setOutput(0, g.getResult(0), n.inputDType(0));
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerEinsumOps(OpRegistry &r) {
  r.add("", "Einsum", 12, buildEinsum);
}
