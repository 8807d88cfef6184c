//===- ControlFlow.cpp - If, Loop, Scan: subgraphs to scf -----------------===//
//
// ONNX control flow carries graphs as node attributes. Each is imported into
// a block of an scf op, in a scope that sees the enclosing graphs' values
// (ONNX's outer-scope references become plain uses across the region):
//  - If: scf.if; with a constant condition (exporters emit them) only the
//    taken branch is imported, inline, so that shapes stay static. Results
//    whose static shapes differ between the branches join to dynamic dims.
//  - Loop: scf.while over (iteration, condition, loop-carried values, scan
//    buffers); the trip count M and the condition are each optional.
//  - Scan: scf.for over the
//  scan axis; scan inputs are sliced
//    and scan outputs inserted, each in its direction along its axis.
// A loop-carried value whose shape changes between iterations makes the
// body be imported again with the joined (dynamic) type, until the types
// settle. Scan outputs are written into buffers with the iterations along a
// new axis; a buffer whose size was not known before the loop (a Loop
// without trip count, a per-iteration shape with dynamic dims) grows by
// doubling.
//
//===----------------------------------------------------------------------===//

#include "../GraphImporter.h"
#include "OpHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qopt::onnx_import;

namespace {

/// A block not (yet) in a region, destroyed with everything in it unless
/// released into an op's region.
class DetachedBlock {
public:
  DetachedBlock() : block(new Block()) {}
  DetachedBlock(const DetachedBlock &) = delete;
  DetachedBlock &operator=(const DetachedBlock &) = delete;
  ~DetachedBlock() { reset(); }
  Block *get() const { return block; }
  Block *release() { return std::exchange(block, nullptr); }
  void reset() {
    if (!block)
      return;
    block->dropAllDefinedValueUses();
    block->dropAllReferences();
    delete block;
    block = nullptr;
  }

private:
  Block *block;
};

/// A builder at the end of `block`, which may be detached (OpBuilder's
/// own atBlockEnd reads the context from the block's region).
OpBuilder builderAtEnd(MLIRContext *ctx, Block *block) {
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(block);
  return b;
}

/// The least general type of both: static dims where they agree, dynamic
/// elsewhere; null when rank or element type differ.
RankedTensorType joinTypes(RankedTensorType a, RankedTensorType b) {
  if (a.getRank() != b.getRank() || a.getElementType() != b.getElementType())
    return nullptr;
  SmallVector<int64_t> shape;
  for (auto [x, y] : llvm::zip(a.getShape(), b.getShape()))
    shape.push_back(x == y ? x : ShapedType::kDynamic);
  return RankedTensorType::get(shape, a.getElementType());
}

Value castTo(OpBuilder &b, Location loc, Value v, Type ty) {
  if (v.getType() == ty)
    return v;
  return tensor::CastOp::create(b, loc, ty, v);
}

/// The element of a one-element tensor (rank 0, or all dims 1).
Value scalarOf(OpBuilder &b, Location loc, Value t) {
  auto ty = cast<RankedTensorType>(t.getType());
  SmallVector<Value> idx(ty.getRank(), cIndex(b, loc, 0));
  return tensor::ExtractOp::create(b, loc, t, idx);
}

/// Checks that input `i` (named `what`) is a one-element tensor of ONNX
/// type `dtype` and returns its element.
FailureOr<Value> scalarInput(ONNXNode &n, int64_t i, int32_t dtype,
                             StringRef what) {
  if (n.inputDType(i) != dtype)
    return n.emitError() << what << " must be " << dtypeName(dtype) << ", got "
                         << dtypeName(n.inputDType(i));
  RankedTensorType ty = n.inputType(i);
  if (ty.hasStaticShape() && ty.getNumElements() != 1)
    return n.emitError() << what << " must have one element, it has "
                         << ty.getNumElements();
  return scalarOf(n.b, n.loc, n.input(i));
}

/// "body of Loop node 'l'".
std::string graphName(ONNXNode &n, StringRef attr) {
  return (attr + " of " + n.opType() + " node '" + n.name() + "'").str();
}

/// The graph attribute `attr`, which the node requires.
FailureOr<const onnx::GraphProto *> requiredGraph(ONNXNode &n, StringRef attr) {
  FailureOr<const onnx::GraphProto *> g = n.getGraph(attr);
  if (failed(g))
    return failure();
  if (!*g)
    return n.emitError() << "attribute '" << attr << "' is required";
  return *g;
}

//===----------------------------------------------------------------------===//
// Loop bodies
//===----------------------------------------------------------------------===//

/// Builds a body's graph inputs from its block's arguments (code at the
/// start of the block when needed).
using BodyInputsFn =
    function_ref<SmallVector<GraphValue>(OpBuilder &, Block &)>;

/// A loop body imported into a detached block whose arguments are
/// `leadingTypes` then the loop-carried values.
struct LoopBody {
  DetachedBlock block;
  SmallVector<GraphValue> outputs;
  /// The carried values' types, joined over the iterations.
  SmallVector<RankedTensorType> carriedTypes;
};

/// Imports `body`; the carried values are its outputs
/// [firstCarriedOutput, firstCarriedOutput + carried.size()). When one's
/// type is not its argument's, the types join and the body is imported
/// again: each round makes at least one dim dynamic, so this ends.
FailureOr<std::unique_ptr<LoopBody>>
importLoopBody(ONNXNode &n, const onnx::GraphProto &body,
               ArrayRef<Type> leadingTypes, ArrayRef<GraphValue> carried,
               int64_t firstCarriedOutput, BodyInputsFn makeInputs) {
  SmallVector<RankedTensorType> types;
  for (const GraphValue &v : carried)
    types.push_back(cast<RankedTensorType>(v.value.getType()));
  std::string what = graphName(n, "body");
  constexpr int64_t kMaxReimports = 10000;
  for (int round = 0;; ++round) {
    if (round > 0 && ++n.importer.loopBodyReimports > kMaxReimports)
      return n.emitError() << "loop bodies were imported again more than "
                           << kMaxReimports
                           << " times (nested loops whose carried shapes "
                              "keep widening)";
    auto result = std::make_unique<LoopBody>();
    Block *block = result->block.get();
    for (Type t : leadingTypes)
      block->addArgument(t, n.loc);
    for (RankedTensorType t : types)
      block->addArgument(t, n.loc);
    OpBuilder bb = builderAtEnd(n.b.getContext(), block);
    SmallVector<GraphValue> inputs = makeInputs(bb, *block);
    FailureOr<SmallVector<GraphValue>> outputs =
        n.importer.importSubgraph(body, inputs, bb, n.loc, what);
    if (failed(outputs))
      return failure();
    bool settled = true;
    for (auto [j, v] : llvm::enumerate(carried)) {
      const GraphValue &out = (*outputs)[firstCarriedOutput + j];
      if (out.dtype != v.dtype)
        return n.emitError()
               << "loop-carried value #" << j << " is " << dtypeName(v.dtype)
               << " before the loop, the body makes it "
               << dtypeName(out.dtype);
      auto outTy = cast<RankedTensorType>(out.value.getType());
      RankedTensorType joined = joinTypes(types[j], outTy);
      if (!joined)
        return n.emitError() << "loop-carried value #" << j << " has rank "
                             << types[j].getRank()
                             << " before an iteration, the body makes it rank "
                             << outTy.getRank();
      if (joined != types[j]) {
        types[j] = joined;
        settled = false;
      }
    }
    if (settled) {
      result->outputs = std::move(*outputs);
      result->carriedTypes = types;
      return result;
    }
    if (round > 64)
      return n.emitError() << "the loop-carried types do not settle";
  }
}

/// The type of a scan buffer holding elements of type `elem` along `axis`,
/// the iteration count dynamic.
RankedTensorType bufferType(RankedTensorType elem, int64_t axis) {
  SmallVector<int64_t> shape(elem.getShape());
  shape.insert(shape.begin() + axis, ShapedType::kDynamic);
  return RankedTensorType::get(shape, elem.getElementType());
}

/// The sizes of a scan buffer for elements like `elem` (a value in the
/// body, or only its type when null: dynamic dims are then 0), `count`
/// along `axis`.
SmallVector<OpFoldResult> bufferSizes(OpBuilder &b, Location loc,
                                      RankedTensorType elemTy, Value elem,
                                      int64_t axis, OpFoldResult count) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < elemTy.getRank(); ++d) {
    if (!elemTy.isDynamicDim(d))
      sizes.push_back(b.getIndexAttr(elemTy.getDimSize(d)));
    else if (elem)
      sizes.push_back(dimOFR(b, loc, elem, d));
    else
      sizes.push_back(b.getIndexAttr(0));
  }
  sizes.insert(sizes.begin() + axis, count);
  return sizes;
}

/// The buffer a scan output starts with: room for `capacity` elements when
/// its per-iteration shape is static and the capacity known; otherwise
/// empty (it grows in the body). Sets `mayGrow` accordingly.
Value initialBuffer(OpBuilder &b, Location loc, RankedTensorType elemTy,
                    int64_t axis, Value capacity, bool &mayGrow) {
  mayGrow = !capacity || !elemTy.hasStaticShape();
  OpFoldResult count =
      mayGrow ? OpFoldResult(b.getIndexAttr(0)) : OpFoldResult(capacity);
  Value empty = tensor::EmptyOp::create(
      b, loc, bufferSizes(b, loc, elemTy, nullptr, axis, count),
      elemTy.getElementType());
  return castTo(b, loc, empty, bufferType(elemTy, axis));
}

/// Writes `elem` as slice `index` along `axis` of scan buffer `buf`. With
/// `mayGrow`, a buffer too small is first replaced by one of
/// max(2 * capacity, `hint`, index + 1) slices (elem's dims elsewhere)
/// holding the old contents.
Value insertScanElement(OpBuilder &b, Location loc, Value buf, Value elem,
                        Value index, int64_t axis, Value hint, bool mayGrow) {
  auto bufTy = cast<RankedTensorType>(buf.getType());
  auto elemTy = cast<RankedTensorType>(elem.getType());
  if (mayGrow) {
    Value cap = tensor::DimOp::create(b, loc, buf, axis);
    Value one = cIndex(b, loc, 1);
    Value need = arith::AddIOp::create(b, loc, index, one);
    Value tooSmall =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, cap, need);
    auto ifOp = scf::IfOp::create(
        b, loc, tooSmall,
        [&](OpBuilder &tb, Location l) {
          Value doubled = arith::MulIOp::create(tb, l, cap, cIndex(tb, l, 2));
          Value newCap = arith::MaxUIOp::create(tb, l, doubled, need);
          if (hint)
            newCap = arith::MaxUIOp::create(tb, l, newCap, hint);
          Value grown = tensor::EmptyOp::create(
              tb, l, bufferSizes(tb, l, elemTy, elem, axis, newCap),
              elemTy.getElementType());
          SmallVector<OpFoldResult> zeros(bufTy.getRank(), tb.getIndexAttr(0));
          SmallVector<OpFoldResult> ones(bufTy.getRank(), tb.getIndexAttr(1));
          SmallVector<OpFoldResult> oldSizes;
          for (int64_t d = 0; d < bufTy.getRank(); ++d)
            oldSizes.push_back(dimOFR(tb, l, buf, d));
          Value copied = tensor::InsertSliceOp::create(tb, l, buf, grown, zeros,
                                                       oldSizes, ones);
          scf::YieldOp::create(tb, l, castTo(tb, l, copied, bufTy));
        },
        [&](OpBuilder &eb, Location l) { scf::YieldOp::create(eb, l, buf); });
    buf = ifOp.getResult(0);
  }
  SmallVector<OpFoldResult> offsets(bufTy.getRank(), b.getIndexAttr(0));
  offsets[axis] = index;
  SmallVector<OpFoldResult> sizes =
      bufferSizes(b, loc, elemTy, elem, axis, b.getIndexAttr(1));
  SmallVector<OpFoldResult> strides(bufTy.getRank(), b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, elem, buf, offsets, sizes,
                                       strides);
}

/// Normalizes per-scan `axes` (against ranks `ranks`) and checks
/// `directions` (0 forward, 1 reverse) for attribute `axesName`.
LogicalResult checkAxesAndDirections(ONNXNode &n,
                                     SmallVectorImpl<int64_t> &axes,
                                     ArrayRef<int64_t> directions,
                                     ArrayRef<int64_t> ranks,
                                     StringRef axesName, StringRef dirName) {
  if (axes.size() != ranks.size())
    return n.emitError() << "attribute '" << axesName << "' has " << axes.size()
                         << " values, expected " << ranks.size();
  if (directions.size() != ranks.size())
    return n.emitError() << "attribute '" << dirName << "' has "
                         << directions.size() << " values, expected "
                         << ranks.size();
  for (auto [i, axis] : llvm::enumerate(axes)) {
    FailureOr<int64_t> a = n.normalizeAxis(
        axis, ranks[i], (axesName + "[" + Twine(i) + "]").str());
    if (failed(a))
      return failure();
    axis = *a;
    if (directions[i] != 0 && directions[i] != 1)
      return n.emitError() << "attribute '" << dirName << "' holds "
                           << directions[i] << ", expected 0 or 1";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// If
//===----------------------------------------------------------------------===//

LogicalResult buildIf(ONNXNode &n) {
  if (failed(n.checkArity(1, 1, 1, std::numeric_limits<int64_t>::max())))
    return failure();
  FailureOr<const onnx::GraphProto *> thenG = requiredGraph(n, "then_branch");
  if (failed(thenG))
    return failure();
  FailureOr<const onnx::GraphProto *> elseG = requiredGraph(n, "else_branch");
  if (failed(elseG))
    return failure();
  for (auto [attr, g] :
       {std::pair{"then_branch", *thenG}, std::pair{"else_branch", *elseG}}) {
    if (g->input_size() != 0)
      return n.emitError() << attr << " must have no inputs, it has "
                           << g->input_size();
    if (g->output_size() != n.numOutputs())
      return n.emitError() << attr << " has " << g->output_size()
                           << " outputs, the node " << n.numOutputs();
  }
  FailureOr<Value> cond = scalarInput(n, 0, kBool, "the condition");
  if (failed(cond))
    return failure();

  // A constant condition: the taken branch, inline.
  if (std::optional<SmallVector<int64_t>> c = n.constantInts(0)) {
    bool taken = !c->empty() && (*c)[0] != 0;
    const onnx::GraphProto &branch = taken ? **thenG : **elseG;
    FailureOr<SmallVector<GraphValue>> outs = n.importer.importSubgraph(
        branch, {}, n.b, n.loc,
        graphName(n, taken ? "then_branch" : "else_branch"));
    if (failed(outs))
      return failure();
    if (Operation *def = cond->getDefiningOp(); def && def->use_empty())
      def->erase();
    for (auto [i, v] : llvm::enumerate(*outs))
      n.setOutputValue(i, v);
    return success();
  }
  // Sequences and optionals are import-time values: only a constant
  // condition picks between them.
  for (const onnx::GraphProto *g : {*thenG, *elseG})
    for (const auto &o : g->output())
      if (o.has_type() && !o.type().has_tensor_type())
        return n.emitError()
               << "the condition (input #0) must be a constant when the "
                  "branches give sequences or optionals";

  DetachedBlock thenBlock, elseBlock;
  OpBuilder tb = builderAtEnd(n.b.getContext(), thenBlock.get());
  FailureOr<SmallVector<GraphValue>> thenOuts = n.importer.importSubgraph(
      **thenG, {}, tb, n.loc, graphName(n, "then_branch"));
  if (failed(thenOuts))
    return failure();
  OpBuilder eb = builderAtEnd(n.b.getContext(), elseBlock.get());
  FailureOr<SmallVector<GraphValue>> elseOuts = n.importer.importSubgraph(
      **elseG, {}, eb, n.loc, graphName(n, "else_branch"));
  if (failed(elseOuts))
    return failure();

  SmallVector<Type> types;
  SmallVector<Value> thenYield, elseYield;
  for (auto [i, t, e] : llvm::enumerate(*thenOuts, *elseOuts)) {
    if (!t.isTensor() || !e.isTensor())
      return n.emitError()
             << "the condition (input #0) must be a constant when the "
                "branches give sequences or optionals";
    if (t.dtype != e.dtype)
      return n.emitError() << "output #" << i << " is " << dtypeName(t.dtype)
                           << " in the then_branch, " << dtypeName(e.dtype)
                           << " in the else_branch";
    auto tTy = cast<RankedTensorType>(t.value.getType());
    auto eTy = cast<RankedTensorType>(e.value.getType());
    RankedTensorType joined = joinTypes(tTy, eTy);
    if (!joined)
      return n.emitError() << "output #" << i << " has rank " << tTy.getRank()
                           << " in the then_branch, rank " << eTy.getRank()
                           << " in the else_branch";
    types.push_back(joined);
    thenYield.push_back(castTo(tb, n.loc, t.value, joined));
    elseYield.push_back(castTo(eb, n.loc, e.value, joined));
  }
  scf::YieldOp::create(tb, n.loc, thenYield);
  scf::YieldOp::create(eb, n.loc, elseYield);
  auto ifOp = scf::IfOp::create(n.b, n.loc, types, *cond,
                                /*addThenBlock=*/false,
                                /*addElseBlock=*/false);
  ifOp.getThenRegion().push_back(thenBlock.release());
  ifOp.getElseRegion().push_back(elseBlock.release());
  for (auto [i, t] : llvm::enumerate(*thenOuts))
    n.setOutput(i, ifOp.getResult(i), t.dtype);
  return success();
}

//===----------------------------------------------------------------------===//
// Loop
//===----------------------------------------------------------------------===//

/// The boolean value of a constant scalar, if `v` is one.
std::optional<bool> constantBool(Value v) {
  auto c = v ? v.getDefiningOp<arith::ConstantOp>() : nullptr;
  auto attr = c ? dyn_cast<DenseIntElementsAttr>(c.getValue()) : nullptr;
  if (!attr || attr.getNumElements() != 1)
    return std::nullopt;
  return !(*attr.getValues<APInt>().begin()).isZero();
}

/// A Loop that carries sequences or optionals (docs/Import/Sequences.md):
/// unrolled at import, each iteration importing the body inline with the
/// iteration number and condition as constants. The trip count and the
/// condition must be constants, the body's condition must fold to one.
LogicalResult buildUnrolledLoop(ONNXNode &n, const onnx::GraphProto &body,
                                int64_t numCarried, int64_t numScan) {
  constexpr int64_t kMaxUnrolled = 4096;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  std::optional<int64_t> trips;
  if (n.hasInput(0)) {
    std::optional<SmallVector<int64_t>> m = n.constantInts(0);
    if (!m || m->size() != 1)
      return n.emitError()
             << "the trip count (input #0) must be a constant when the "
                "loop carries sequences or optionals (the loop is unrolled)";
    trips = std::max<int64_t>(m->front(), 0);
  }
  bool cond = true;
  if (n.hasInput(1)) {
    std::optional<SmallVector<int64_t>> c = n.constantInts(1);
    if (!c || c->size() != 1)
      return n.emitError()
             << "the condition (input #1) must be a constant when the loop "
                "carries sequences or optionals (the loop is unrolled)";
    cond = c->front() != 0;
  }
  if (!trips && n.hasInput(1) == false)
    return n.emitError() << "a loop carrying sequences needs a trip count or "
                            "a condition";
  SmallVector<GraphValue> carried;
  for (int64_t i = 2; i < n.numInputs(); ++i)
    carried.push_back(n.inputValue(i));
  SmallVector<SmallVector<Value>> scans(numScan);
  SmallVector<int32_t> scanDTypes(numScan, kUndefined);
  std::string what = graphName(n, "body");
  int64_t iter = 0;
  for (; cond && (!trips || iter < *trips); ++iter) {
    if (iter >= kMaxUnrolled)
      return n.emitError() << "more than " << kMaxUnrolled
                           << " iterations to unroll";
    auto i64 = RankedTensorType::get({}, b.getI64Type());
    auto i1 = RankedTensorType::get({}, b.getI1Type());
    SmallVector<GraphValue> ins{
        {arith::ConstantOp::create(
             b, loc,
             DenseElementsAttr::get(i64, b.getI64IntegerAttr(iter).getValue())),
         kInt64},
        {arith::ConstantOp::create(
             b, loc,
             DenseElementsAttr::get(i1, b.getBoolAttr(true).getValue())),
         kBool}};
    llvm::append_range(ins, carried);
    FailureOr<SmallVector<GraphValue>> outs =
        n.importer.importSubgraph(body, ins, b, loc, what);
    if (failed(outs))
      return failure();
    std::optional<bool> next = constantBool((*outs)[0].value);
    if (!next)
      return n.emitError() << "the body's condition output must fold to a "
                              "constant when the loop carries sequences or "
                              "optionals (the loop is unrolled)";
    cond = *next;
    for (int64_t j = 0; j < numCarried; ++j)
      carried[j] = (*outs)[1 + j];
    for (int64_t k = 0; k < numScan; ++k) {
      const GraphValue &s = (*outs)[1 + numCarried + k];
      if (!s.isTensor())
        return n.emitError() << "scan output #" << k << " must be a tensor";
      scans[k].push_back(insertUnitDim(b, loc, s.value, 0));
      scanDTypes[k] = s.dtype;
    }
  }
  for (int64_t j = 0; j < numCarried; ++j)
    n.setOutputValue(j, carried[j]);
  for (int64_t k = 0; k < numScan; ++k) {
    if (!n.hasOutput(numCarried + k))
      continue;
    if (scans[k].empty())
      return n.emitError() << "scan output #" << k
                           << " of an unrolled loop that runs no iteration";
    Value out = scans[k].size() == 1
                    ? scans[k][0]
                    : tensor::ConcatOp::create(b, loc, 0, scans[k]).getResult();
    n.setOutput(numCarried + k, out, scanDTypes[k]);
  }
  return success();
}

LogicalResult buildLoop(ONNXNode &n) {
  if (n.numInputs() < 2)
    return n.emitError() << "takes at least 2 inputs (M, cond), got "
                         << n.numInputs();
  FailureOr<const onnx::GraphProto *> bodyG = requiredGraph(n, "body");
  if (failed(bodyG))
    return failure();
  const onnx::GraphProto &body = **bodyG;
  int64_t numCarried = n.numInputs() - 2;
  for (int64_t i = 2; i < n.numInputs(); ++i)
    if (!n.hasInput(i))
      return n.emitError() << "loop-carried input #" << i - 2 << " is required";
  if (body.input_size() != numCarried + 2)
    return n.emitError() << "body has " << body.input_size()
                         << " inputs, expected " << numCarried + 2
                         << " (iteration number, condition and " << numCarried
                         << " loop-carried values)";
  if (body.output_size() < numCarried + 1)
    return n.emitError() << "body has " << body.output_size()
                         << " outputs, expected at least " << numCarried + 1
                         << " (condition and " << numCarried
                         << " loop-carried values)";
  int64_t numScan = body.output_size() - 1 - numCarried;
  if (n.numOutputs() > numCarried + numScan)
    return n.emitError() << "has " << n.numOutputs()
                         << " outputs, the body gives " << numCarried
                         << " loop-carried values and " << numScan
                         << " scan outputs";
  bool carriesNonTensors = false;
  for (int64_t i = 2; i < n.numInputs(); ++i)
    carriesNonTensors |= !n.inputValue(i).isTensor();
  for (const auto &o : body.output())
    carriesNonTensors |= o.has_type() && !o.type().has_tensor_type();
  if (carriesNonTensors)
    return buildUnrolledLoop(n, body, numCarried, numScan);

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type i64 = b.getI64Type(), i1 = b.getI1Type();
  Value tripCount;
  std::optional<int64_t> constTrips;
  if (n.hasInput(0)) {
    FailureOr<Value> m = scalarInput(n, 0, kInt64, "the trip count M");
    if (failed(m))
      return failure();
    tripCount = *m;
    if (auto c = n.constantInts(0))
      constTrips = std::max<int64_t>(c->front(), 0);
  }
  Value cond0;
  if (n.hasInput(1)) {
    FailureOr<Value> c = scalarInput(n, 1, kBool, "the condition");
    if (failed(c))
      return failure();
    cond0 = *c;
  } else {
    cond0 = arith::ConstantIntOp::create(b, loc, i1, 1);
  }
  SmallVector<GraphValue> carried;
  for (int64_t i = 2; i < n.numInputs(); ++i)
    carried.push_back({n.input(i), n.inputDType(i)});

  auto makeInputs = [&](OpBuilder &bb, Block &block) {
    SmallVector<GraphValue> in{
        {tensor::FromElementsOp::create(bb, loc, RankedTensorType::get({}, i64),
                                        ValueRange{block.getArgument(0)}),
         kInt64},
        {tensor::FromElementsOp::create(bb, loc, RankedTensorType::get({}, i1),
                                        ValueRange{block.getArgument(1)}),
         kBool}};
    for (auto [j, v] : llvm::enumerate(carried))
      in.push_back({block.getArgument(2 + j), v.dtype});
    return in;
  };
  FailureOr<std::unique_ptr<LoopBody>> imported =
      importLoopBody(n, body, {i64, i1}, carried, 1, makeInputs);
  if (failed(imported))
    return failure();
  LoopBody &lb = **imported;
  Block *block = lb.block.get();
  const GraphValue &condOut = lb.outputs[0];
  if (condOut.dtype != kBool)
    return n.emitError() << "the body's condition output must be bool, got "
                         << dtypeName(condOut.dtype);

  // Scan buffers: room for M iterations when M is given.
  Value capacity;
  if (tripCount)
    capacity = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        arith::MaxSIOp::create(b, loc, tripCount,
                               arith::ConstantIntOp::create(b, loc, i64, 0)));
  SmallVector<Value> initBufs;
  SmallVector<bool> mayGrow;
  bool allStatic = true;
  for (int64_t k = 0; k < numScan; ++k) {
    auto elemTy =
        cast<RankedTensorType>(lb.outputs[1 + numCarried + k].value.getType());
    bool grow;
    initBufs.push_back(initialBuffer(b, loc, elemTy, 0, capacity, grow));
    mayGrow.push_back(grow);
    allStatic &= elemTy.hasStaticShape();
  }
  // Without a trip count, buffers of static per-iteration shape grow in an
  // outer loop: the body runs in an inner loop until its buffers are full,
  // so that the body's buffers stay in place (a buffer replaced inside the
  // body would be copied by bufferization on every iteration).
  bool chunked = !capacity && numScan > 0 && allStatic;
  if (chunked)
    mayGrow.assign(numScan, false);

  // The end of the body: next iteration, condition, carried values, scan
  // buffers written at the iteration number.
  OpBuilder bb = builderAtEnd(n.b.getContext(), block);
  SmallVector<Value> yields;
  Value iter = block->getArgument(0);
  yields.push_back(arith::AddIOp::create(
      bb, loc, iter, arith::ConstantIntOp::create(bb, loc, i64, 1)));
  // The body's condition ends the loop even without a cond input (the
  // spec calls it ignored then; onnxruntime and the ONNX reference
  // evaluator both stop on it, and they are what models are checked with).
  yields.push_back(scalarOf(bb, loc, condOut.value));
  for (int64_t j = 0; j < numCarried; ++j)
    yields.push_back(
        castTo(bb, loc, lb.outputs[1 + j].value, lb.carriedTypes[j]));
  Value iterIndex =
      arith::IndexCastOp::create(bb, loc, bb.getIndexType(), iter);
  Value hint = capacity || !llvm::is_contained(mayGrow, true)
                   ? capacity
                   : cIndex(bb, loc, 16);
  for (int64_t k = 0; k < numScan; ++k) {
    Value buf = block->addArgument(initBufs[k].getType(), loc);
    Value written =
        insertScanElement(bb, loc, buf, lb.outputs[1 + numCarried + k].value,
                          iterIndex, 0, hint, mayGrow[k]);
    yields.push_back(castTo(bb, loc, written, initBufs[k].getType()));
  }
  scf::YieldOp::create(bb, loc, yields);

  SmallVector<Value> inits{arith::ConstantIntOp::create(b, loc, i64, 0), cond0};
  for (auto [j, v] : llvm::enumerate(carried))
    inits.push_back(castTo(b, loc, v.value, lb.carriedTypes[j]));
  llvm::append_range(inits, initBufs);
  SmallVector<Type> types(ValueRange(inits).getTypes());
  SmallVector<Location> locs(types.size(), loc);
  // The before region: on while the condition holds and the iteration is
  // below M (and, with `capacity`, below the buffers' size).
  auto buildBefore = [&](scf::WhileOp op, bool untilFull) {
    OpBuilder::InsertionGuard guard(b);
    Block *before = b.createBlock(&op.getBefore(), {}, types, locs);
    Value go = before->getArgument(1);
    if (tripCount) {
      Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            before->getArgument(0), tripCount);
      go = arith::AndIOp::create(b, loc, go, inRange);
    }
    if (untilFull) {
      Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                           before->getArgument(0));
      Value cap =
          tensor::DimOp::create(b, loc, before->getArgument(2 + numCarried), 0);
      go = arith::AndIOp::create(
          b, loc, go,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, i, cap));
    }
    scf::ConditionOp::create(b, loc, go, before->getArguments());
  };
  auto whileOp = scf::WhileOp::create(b, loc, types, inits);
  buildBefore(whileOp, false);
  if (!chunked) {
    whileOp.getAfter().push_back(lb.block.release());
  } else {
    // The outer body: double the buffers (at least 16 rows), then iterate
    // until they are full or the loop ends.
    OpBuilder::InsertionGuard guard(b);
    Block *outer = b.createBlock(&whileOp.getAfter(), {}, types, locs);
    SmallVector<Value> innerInits(
        outer->getArguments().take_front(2 + numCarried));
    for (int64_t k = 0; k < numScan; ++k) {
      Value buf = outer->getArgument(2 + numCarried + k);
      auto bufTy = cast<RankedTensorType>(buf.getType());
      Value cap = tensor::DimOp::create(b, loc, buf, 0);
      Value newCap = arith::MaxUIOp::create(
          b, loc, arith::MulIOp::create(b, loc, cap, cIndex(b, loc, 2)),
          cIndex(b, loc, 16));
      SmallVector<OpFoldResult> sizes{newCap}, oldSizes{cap};
      for (int64_t d = 1; d < bufTy.getRank(); ++d) {
        sizes.push_back(b.getIndexAttr(bufTy.getDimSize(d)));
        oldSizes.push_back(b.getIndexAttr(bufTy.getDimSize(d)));
      }
      Value grown =
          tensor::EmptyOp::create(b, loc, sizes, bufTy.getElementType());
      SmallVector<OpFoldResult> zeros(bufTy.getRank(), b.getIndexAttr(0));
      SmallVector<OpFoldResult> ones(bufTy.getRank(), b.getIndexAttr(1));
      Value copied = tensor::InsertSliceOp::create(b, loc, buf, grown, zeros,
                                                   oldSizes, ones);
      innerInits.push_back(castTo(b, loc, copied, bufTy));
    }
    auto inner = scf::WhileOp::create(b, loc, types, innerInits);
    buildBefore(inner, true);
    inner.getAfter().push_back(lb.block.release());
    b.setInsertionPointToEnd(outer);
    scf::YieldOp::create(b, loc, inner.getResults());
  }
  b.setInsertionPointAfter(whileOp);

  for (int64_t j = 0; j < numCarried; ++j)
    n.setOutput(j, whileOp.getResult(2 + j), carried[j].dtype);
  // Scan outputs: the first (iteration count) slices of each buffer.
  OpFoldResult count =
      constTrips && !n.hasInput(1)
          ? OpFoldResult(b.getIndexAttr(*constTrips))
          : OpFoldResult(arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                                    whileOp.getResult(0)));
  for (int64_t k = 0; k < numScan; ++k) {
    if (!n.hasOutput(numCarried + k))
      continue;
    Value buf = whileOp.getResult(2 + numCarried + k);
    auto bufTy = cast<RankedTensorType>(buf.getType());
    SmallVector<OpFoldResult> offsets(bufTy.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes{count};
    for (int64_t d = 1; d < bufTy.getRank(); ++d)
      sizes.push_back(dimOFR(b, loc, buf, d));
    SmallVector<OpFoldResult> strides(bufTy.getRank(), b.getIndexAttr(1));
    Value slice =
        tensor::ExtractSliceOp::create(b, loc, buf, offsets, sizes, strides);
    // Copied out of the buffer: a strided view of it would reach the NVPTX
    // pipeline's device copies, which need identity layouts (the result
    // is copied out for the caller anyway).
    Value init = tensor::EmptyOp::create(b, loc, sizes, bufTy.getElementType());
    Value out = linalg::CopyOp::create(b, loc, slice, init).getResult(0);
    n.setOutput(numCarried + k, out, lb.outputs[1 + numCarried + k].dtype);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Scan
//===----------------------------------------------------------------------===//

/// Scan's loop at n.b's insertion point: `states` carried, `scans` sliced
/// along `inAxes` in directions `inDirs`, the body's scan outputs stacked
/// along `outAxes` (normalized here) in directions `outDirs`. Returns the
/// final states, then the scan outputs.
FailureOr<SmallVector<GraphValue>>
buildScanLoop(ONNXNode &n, const onnx::GraphProto &body,
              ArrayRef<GraphValue> states, ArrayRef<GraphValue> scans,
              ArrayRef<int64_t> inAxes, ArrayRef<int64_t> inDirs,
              SmallVector<int64_t> outAxes, ArrayRef<int64_t> outDirs) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  int64_t m = scans.size(), numState = states.size();
  int64_t numScanOut = body.output_size() - numState;
  auto scanType = [&](int64_t j) {
    return cast<RankedTensorType>(scans[j].value.getType());
  };
  // The sequence length: the scan axis of every scan input.
  Value first = scans[0].value;
  Value length = dimValue(b, loc, first, inAxes[0]);
  std::optional<int64_t> staticLength;
  if (!scanType(0).isDynamicDim(inAxes[0]))
    staticLength = scanType(0).getDimSize(inAxes[0]);
  for (int64_t j = 1; j < m; ++j) {
    RankedTensorType ty = scanType(j);
    int64_t d = ty.getDimSize(inAxes[j]);
    if (staticLength && !ty.isDynamicDim(inAxes[j]) && d != *staticLength)
      return n.emitError() << "scan input #" << j << " has " << d
                           << " elements along its axis, scan input #0 has "
                           << *staticLength;
    assertSameSize(n, scans[j].value, inAxes[j], first, inAxes[0],
                   "scan inputs of different lengths");
  }

  SmallVector<GraphValue> carried(states.begin(), states.end());
  Value lastIndex = arith::SubIOp::create(b, loc, length, cIndex(b, loc, 1));
  auto makeInputs = [&](OpBuilder &bb, Block &block) {
    SmallVector<GraphValue> in;
    for (auto [i, v] : llvm::enumerate(carried))
      in.push_back({block.getArgument(1 + i), v.dtype});
    Value iv = block.getArgument(0);
    Value reversed = arith::SubIOp::create(bb, loc, lastIndex, iv);
    for (int64_t j = 0; j < m; ++j) {
      Value x = scans[j].value;
      auto ty = cast<RankedTensorType>(x.getType());
      int64_t axis = inAxes[j];
      SmallVector<OpFoldResult> offsets(ty.getRank(), bb.getIndexAttr(0));
      offsets[axis] = inDirs[j] ? reversed : iv;
      SmallVector<OpFoldResult> sizes;
      SmallVector<int64_t> sliceShape;
      for (int64_t d = 0; d < ty.getRank(); ++d) {
        sizes.push_back(d == axis ? bb.getIndexAttr(1) : dimOFR(bb, loc, x, d));
        if (d != axis)
          sliceShape.push_back(ty.getDimSize(d));
      }
      SmallVector<OpFoldResult> strides(ty.getRank(), bb.getIndexAttr(1));
      auto sliceTy = RankedTensorType::get(sliceShape, ty.getElementType());
      Value slice = tensor::ExtractSliceOp::create(bb, loc, sliceTy, x, offsets,
                                                   sizes, strides);
      in.push_back({slice, scans[j].dtype});
    }
    return in;
  };
  FailureOr<std::unique_ptr<LoopBody>> imported =
      importLoopBody(n, body, {b.getIndexType()}, carried, 0, makeInputs);
  if (failed(imported))
    return failure();
  LoopBody &lb = **imported;
  Block *block = lb.block.get();

  SmallVector<int64_t> outRanks;
  for (int64_t k = 0; k < numScanOut; ++k)
    outRanks.push_back(
        cast<RankedTensorType>(lb.outputs[numState + k].value.getType())
            .getRank() +
        1);
  if (failed(checkAxesAndDirections(n, outAxes, outDirs, outRanks,
                                    "scan_output_axes",
                                    "scan_output_directions")))
    return failure();

  SmallVector<Value> initBufs;
  SmallVector<bool> mayGrow;
  for (int64_t k = 0; k < numScanOut; ++k) {
    auto elemTy =
        cast<RankedTensorType>(lb.outputs[numState + k].value.getType());
    bool grow;
    initBufs.push_back(initialBuffer(b, loc, elemTy, outAxes[k], length, grow));
    mayGrow.push_back(grow);
  }

  OpBuilder bb = builderAtEnd(n.b.getContext(), block);
  SmallVector<Value> yields;
  for (int64_t i = 0; i < numState; ++i)
    yields.push_back(castTo(bb, loc, lb.outputs[i].value, lb.carriedTypes[i]));
  Value iv = block->getArgument(0);
  Value reversed = arith::SubIOp::create(bb, loc, lastIndex, iv);
  for (int64_t k = 0; k < numScanOut; ++k) {
    Value buf = block->addArgument(initBufs[k].getType(), loc);
    Value written = insertScanElement(
        bb, loc, buf, lb.outputs[numState + k].value,
        outDirs[k] ? reversed : iv, outAxes[k], length, mayGrow[k]);
    yields.push_back(castTo(bb, loc, written, initBufs[k].getType()));
  }
  scf::YieldOp::create(bb, loc, yields);

  SmallVector<Value> inits;
  for (auto [i, v] : llvm::enumerate(carried))
    inits.push_back(castTo(b, loc, v.value, lb.carriedTypes[i]));
  llvm::append_range(inits, initBufs);
  auto forOp = scf::ForOp::create(b, loc, cIndex(b, loc, 0), length,
                                  cIndex(b, loc, 1), inits);
  forOp.getRegion().front().erase();
  forOp.getRegion().push_back(lb.block.release());
  b.setInsertionPointAfter(forOp);

  SmallVector<GraphValue> results;
  for (int64_t i = 0; i < numState; ++i)
    results.push_back({forOp.getResult(i), carried[i].dtype});
  for (int64_t k = 0; k < numScanOut; ++k) {
    Value out = forOp.getResult(numState + k);
    auto ty = cast<RankedTensorType>(out.getType());
    if (staticLength) {
      SmallVector<int64_t> shape(ty.getShape());
      shape[outAxes[k]] = *staticLength;
      out = castTo(b, loc, out, ty.clone(shape));
    }
    results.push_back({out, lb.outputs[numState + k].dtype});
  }
  return results;
}

LogicalResult buildScan(ONNXNode &n) {
  FailureOr<const onnx::GraphProto *> bodyG = requiredGraph(n, "body");
  if (failed(bodyG))
    return failure();
  const onnx::GraphProto &body = **bodyG;
  FailureOr<int64_t> numScanIn = n.getRequiredInt("num_scan_inputs");
  if (failed(numScanIn))
    return failure();
  int64_t m = *numScanIn;
  if (m < 1 || m > n.numInputs())
    return n.emitError() << "num_scan_inputs is " << m << ", the node has "
                         << n.numInputs() << " inputs";
  int64_t numState = n.numInputs() - m;
  for (int64_t i = 0; i < n.numInputs(); ++i)
    if (!n.hasInput(i))
      return n.emitError() << "input #" << i << " is required";
  if (body.input_size() != n.numInputs())
    return n.emitError() << "body has " << body.input_size()
                         << " inputs, expected " << n.numInputs() << " ("
                         << numState << " state variables and " << m
                         << " scan inputs)";
  if (body.output_size() < numState)
    return n.emitError() << "body has " << body.output_size()
                         << " outputs, expected at least " << numState
                         << " (the state variables)";
  int64_t numScanOut = body.output_size() - numState;
  if (n.numOutputs() > numState + numScanOut)
    return n.emitError() << "has " << n.numOutputs()
                         << " outputs, the body gives " << numState
                         << " state variables and " << numScanOut
                         << " scan outputs";

  SmallVector<int64_t> inRanks;
  for (int64_t j = 0; j < m; ++j)
    inRanks.push_back(n.inputType(numState + j).getRank());
  FailureOr<SmallVector<int64_t>> inDirs =
      n.getInts("scan_input_directions", SmallVector<int64_t>(m, 0));
  FailureOr<SmallVector<int64_t>> inAxes =
      n.getInts("scan_input_axes", SmallVector<int64_t>(m, 0));
  FailureOr<SmallVector<int64_t>> outDirs =
      n.getInts("scan_output_directions", SmallVector<int64_t>(numScanOut, 0));
  FailureOr<SmallVector<int64_t>> outAxes =
      n.getInts("scan_output_axes", SmallVector<int64_t>(numScanOut, 0));
  if (failed(inDirs) || failed(inAxes) || failed(outDirs) || failed(outAxes))
    return failure();
  for (int64_t r : inRanks)
    if (r < 1)
      return n.emitError() << "scan inputs must have rank >= 1";
  if (failed(checkAxesAndDirections(n, *inAxes, *inDirs, inRanks,
                                    "scan_input_axes",
                                    "scan_input_directions")))
    return failure();

  SmallVector<GraphValue> states, scans;
  for (int64_t i = 0; i < n.numInputs(); ++i)
    (i < numState ? states : scans).push_back({n.input(i), n.inputDType(i)});
  FailureOr<SmallVector<GraphValue>> results = buildScanLoop(
      n, body, states, scans, *inAxes, *inDirs, *outAxes, *outDirs);
  if (failed(results))
    return failure();
  for (auto [i, v] : llvm::enumerate(*results))
    n.setOutput(i, v.value, v.dtype);
  return success();
}

/// Scan-8: inputs (sequence_lens, states..., scan inputs...) with a leading
/// batch dim, the sequence along dim 1 of every scan input; the body sees one
/// batch element. An scf.for over the batch runs Scan's loop on each element
/// and stacks its results along dim 0.
LogicalResult buildScan8(ONNXNode &n) {
  FailureOr<const onnx::GraphProto *> bodyG = requiredGraph(n, "body");
  if (failed(bodyG))
    return failure();
  const onnx::GraphProto &body = **bodyG;
  FailureOr<int64_t> numScanIn = n.getRequiredInt("num_scan_inputs");
  if (failed(numScanIn))
    return failure();
  int64_t m = *numScanIn;
  if (n.numInputs() < 2 || m < 1 || m > n.numInputs() - 1)
    return n.emitError() << "num_scan_inputs is " << m << ", the node has "
                         << n.numInputs() << " inputs (sequence_lens first)";
  int64_t numState = n.numInputs() - 1 - m;
  for (int64_t i = 1; i < n.numInputs(); ++i)
    if (!n.hasInput(i))
      return n.emitError() << "input #" << i << " is required";
  if (body.input_size() != numState + m)
    return n.emitError() << "body has " << body.input_size()
                         << " inputs, expected " << numState + m << " ("
                         << numState << " state variables and " << m
                         << " scan inputs)";
  if (body.output_size() < numState)
    return n.emitError() << "body has " << body.output_size()
                         << " outputs, expected at least " << numState
                         << " (the state variables)";
  int64_t numScanOut = body.output_size() - numState;
  if (n.numOutputs() > numState + numScanOut)
    return n.emitError() << "has " << n.numOutputs()
                         << " outputs, the body gives " << numState
                         << " state variables and " << numScanOut
                         << " scan outputs";
  FailureOr<SmallVector<int64_t>> dirs =
      n.getInts("directions", SmallVector<int64_t>(m, 0));
  if (failed(dirs))
    return failure();
  if (static_cast<int64_t>(dirs->size()) != m)
    return n.emitError() << "attribute 'directions' has " << dirs->size()
                         << " values, expected " << m;
  for (int64_t d : *dirs)
    if (d != 0 && d != 1)
      return n.emitError() << "attribute 'directions' holds " << d
                           << ", expected 0 or 1";
  for (int64_t i = 1; i < n.numInputs(); ++i)
    if (n.inputType(i).getRank() < (i > numState ? 2 : 1))
      return n.emitError() << "input #" << i
                           << " lacks the batch (and sequence) dims";
  Value first = n.input(1 + numState);
  RankedTensorType firstTy = n.inputType(1 + numState);
  // sequence_lens: only the full length for every batch element.
  if (n.hasInput(0)) {
    std::optional<SmallVector<int64_t>> lens = n.constantInts(0);
    if (!lens || firstTy.isDynamicDim(1) || llvm::any_of(*lens, [&](int64_t l) {
          return l != firstTy.getDimSize(1);
        }))
      return n.emitError() << "sequence_lens shorter than the sequence (or "
                              "not constant) is not supported";
  }

  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value batch = dimValue(b, loc, first, 0);
  // The per-element loop is built into a block of its own first, to learn
  // its result types.
  DetachedBlock block;
  Block *body8 = block.get();
  Value bi = body8->addArgument(b.getIndexType(), loc);
  OpBuilder::InsertPoint outerIp = b.saveInsertionPoint();
  b.setInsertionPointToEnd(body8);
  auto element = [&](int64_t i) {
    Value x = n.input(i);
    auto ty = cast<RankedTensorType>(x.getType());
    SmallVector<OpFoldResult> offsets(ty.getRank(), b.getIndexAttr(0));
    offsets[0] = bi;
    SmallVector<OpFoldResult> sizes{b.getIndexAttr(1)};
    for (int64_t d = 1; d < ty.getRank(); ++d)
      sizes.push_back(dimOFR(b, loc, x, d));
    SmallVector<OpFoldResult> strides(ty.getRank(), b.getIndexAttr(1));
    auto sliceTy =
        RankedTensorType::get(ty.getShape().drop_front(), ty.getElementType());
    return GraphValue{tensor::ExtractSliceOp::create(b, loc, sliceTy, x,
                                                     offsets, sizes, strides),
                      n.inputDType(i)};
  };
  SmallVector<GraphValue> states, scans;
  for (int64_t i = 1; i < n.numInputs(); ++i)
    (i <= numState ? states : scans).push_back(element(i));
  FailureOr<SmallVector<GraphValue>> results = buildScanLoop(
      n, body, states, scans, SmallVector<int64_t>(m, 0), *dirs,
      SmallVector<int64_t>(numScanOut, 0), SmallVector<int64_t>(numScanOut, 0));
  if (failed(results))
    return failure();

  // Stack each result along a new batch dim.
  b.restoreInsertionPoint(outerIp);
  SmallVector<Value> inits, yields;
  SmallVector<bool> mayGrow;
  for (const GraphValue &r : *results) {
    auto ty = cast<RankedTensorType>(r.value.getType());
    bool grow;
    inits.push_back(initialBuffer(b, loc, ty, 0, batch, grow));
    mayGrow.push_back(grow);
  }
  b.setInsertionPointToEnd(body8);
  for (auto [k, r] : llvm::enumerate(*results)) {
    Value buf = body8->addArgument(inits[k].getType(), loc);
    Value written =
        insertScanElement(b, loc, buf, r.value, bi, 0, batch, mayGrow[k]);
    yields.push_back(castTo(b, loc, written, inits[k].getType()));
  }
  scf::YieldOp::create(b, loc, yields);
  b.restoreInsertionPoint(outerIp);
  auto forOp = scf::ForOp::create(b, loc, cIndex(b, loc, 0), batch,
                                  cIndex(b, loc, 1), inits);
  forOp.getRegion().front().erase();
  forOp.getRegion().push_back(block.release());
  b.setInsertionPointAfter(forOp);
  for (auto [k, r] : llvm::enumerate(*results)) {
    Value out = forOp.getResult(k);
    if (!firstTy.isDynamicDim(0)) {
      SmallVector<int64_t> shape(
          cast<RankedTensorType>(out.getType()).getShape());
      shape[0] = firstTy.getDimSize(0);
      out = castTo(b, loc, out,
                   cast<RankedTensorType>(out.getType()).clone(shape));
    }
    n.setOutput(k, out, r.dtype);
  }
  return success();
}

} // namespace

void mlir::qopt::onnx_import::registerControlFlowOps(OpRegistry &r) {
  r.add("", "If", 1, buildIf);
  r.add("", "Loop", 1, buildLoop);
  r.add("", "Scan", 8, buildScan8);
  r.add("", "Scan", 9, buildScan);
}
