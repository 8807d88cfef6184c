//===- TensorCoreMatmul.cpp - float16 matmuls on the tensor cores ---------===//
//
// A float16 contraction (matmul, batched matmul, x·Wᵀ linear layers, any
// operand order), or an int8 one with int32 sums (W8A8's qlinear with int8
// activations), becomes one gpu.launch that tiles the output 64x64 per
// block of four warps, stages 64x32 / 32x64 tiles of the operands through
// shared memory, and multiplies them on the tensor cores with
// gpu.subgroup_mma_* (NVVM's wmma.mma.sync m16n16k16: float16 inputs with
// float32 accumulation, or int8 inputs with int32 accumulation). Each warp owns
// a 32x32 quarter of the block's tile (2x2 fragments). The operand tiles are
// copied with plain loads whose thread order follows each operand's contiguous
// dimension (coalesced for any layout), out-of-range elements read as zero, so
// M, N and K need not be multiples of the tile and may be dynamic. The float32
// sums go through shared memory once more so that the epilogue can add the
// output's initial value (linalg semantics) and round to the output type.
//
//===----------------------------------------------------------------------===//

#include "qopt/Codegen/GPU/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace mlir::qopt {
#define GEN_PASS_DEF_GPUTENSORCOREMATMULPASS
#include "qopt/Codegen/GPU/Passes.h.inc"
} // namespace mlir::qopt

using namespace mlir;

namespace {

constexpr int64_t kTile = 64;     // block tile (M and N)
constexpr int64_t kTileK = 32;    // K per shared-memory stage
constexpr int64_t kFrag = 16;     // wmma m16n16k16
constexpr int64_t kThreads = 128; // four warps, 2x2 over the tile
// Shared-memory row pitches in elements, padded against bank conflicts
// (wmma needs multiples of 16 bytes): float16 tiles by 8, int8 ones by 16.
constexpr int64_t kPitchC = kTile + 8; // sC[64][72] (m, n), f32 / i32

/// The two kinds of tensor-core contraction.
struct MmaKind {
  bool isInt = false;      // i8 x i8 -> i32, else f16 x f16 -> f32
  bool isUnsigned = false; // int: both operands zero-extended (u8), else s8
  bool isBF16 = false;     // bf16 x bf16 -> f32 through mma.sync (wmma in
                           // the gpu dialect has no bf16)
  int64_t pitchA() const { return kTileK + (isInt ? 16 : 8); }
  int64_t pitchB() const { return kTile + (isInt ? 16 : 8); }
};

/// The loop dims of a contraction, as linalg infers them.
struct MatmulDims {
  SmallVector<unsigned> batch;
  unsigned m, n, k;
  MmaKind kind;
};

/// `a * b + acc` in the body: float (operands possibly widened with extf)
/// or integer (both widened with extsi, or both with extui). Sets `kind`.
bool isMulAddBody(linalg::LinalgOp op, MmaKind &kind) {
  Block *body = op.getBlock();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  Operation *add = yield.getOperand(0).getDefiningOp();
  if (!add || !isa<arith::AddFOp, arith::AddIOp>(add))
    return false;
  kind.isInt = isa<arith::AddIOp>(add);
  BlockArgument acc = body->getArguments().back();
  if (add->getOperand(0) != acc && add->getOperand(1) != acc)
    return false;
  Value other =
      add->getOperand(0) == acc ? add->getOperand(1) : add->getOperand(0);
  Operation *mul = other.getDefiningOp();
  if (!mul || !(kind.isInt ? isa<arith::MulIOp>(mul) : isa<arith::MulFOp>(mul)))
    return false;
  int exts = 0, extu = 0;
  auto isInput = [&](Value v) {
    if (auto ext = v.getDefiningOp<arith::ExtFOp>())
      v = ext.getIn();
    else if (auto ext = v.getDefiningOp<arith::ExtSIOp>())
      v = ext.getIn(), ++exts;
    else if (auto ext = v.getDefiningOp<arith::ExtUIOp>())
      v = ext.getIn(), ++extu;
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && arg.getOwner() == body &&
           arg.getArgNumber() < op.getNumDpsInputs();
  };
  if (!isInput(mul->getOperand(0)) || !isInput(mul->getOperand(1)) ||
      mul->getOperand(0) == mul->getOperand(1))
    return false;
  // wmma multiplies s8 x s8 or u8 x u8, not a mix.
  kind.isUnsigned = extu == 2;
  return !kind.isInt || exts == 2 || extu == 2;
}

std::optional<MatmulDims> matchMatmul(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  auto elemOf = [](Value v) {
    return cast<MemRefType>(v.getType()).getElementType();
  };
  Value a = op.getDpsInputOperand(0)->get(),
        b = op.getDpsInputOperand(1)->get(), c = op.getDpsInitOperand(0)->get();
  if (!isa<MemRefType>(a.getType()) || !isa<MemRefType>(b.getType()))
    return std::nullopt;
  MmaKind kind;
  if (!isMulAddBody(op, kind))
    return std::nullopt;
  kind.isBF16 = !kind.isInt && elemOf(a).isBF16();
  Type half = kind.isBF16 ? elemOf(a) : Float16Type::get(op.getContext());
  if (kind.isInt ? !(elemOf(a).isInteger(8) && elemOf(b).isInteger(8) &&
                     elemOf(c).isInteger(32))
                 : !(elemOf(a) == half && elemOf(b) == half &&
                     (elemOf(c) == half || elemOf(c).isF32())))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands())
    if (!op.getMatchingIndexingMap(&operand).isProjectedPermutation())
      return std::nullopt;
  // A must be the (m, k) operand and B the (k, n) one.
  auto uses = [&](OpOperand *o, unsigned d) {
    return op.getMatchingIndexingMap(o)
        .getResultPosition(getAffineDimExpr(d, op.getContext()))
        .has_value();
  };
  OpOperand *oa = op.getDpsInputOperand(0), *ob = op.getDpsInputOperand(1);
  if (!uses(oa, dims->m[0]) || !uses(oa, dims->k[0]) || uses(oa, dims->n[0]) ||
      !uses(ob, dims->n[0]) || !uses(ob, dims->k[0]) || uses(ob, dims->m[0]))
    return std::nullopt;
  return MatmulDims{
      SmallVector<unsigned>(dims->batch.begin(), dims->batch.end()), dims->m[0],
      dims->n[0], dims->k[0], kind};
}

/// An index constant.
Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// The element of a rows x cols tile that thread `tid` handles at step
/// `step` of a walk of kThreads elements a step: consecutive threads move
/// along the columns when `colsFast`, else along the rows. Returns (r, c).
std::pair<Value, Value> tileElement(OpBuilder &b, Location loc, Value tid,
                                    Value step, int64_t rows, int64_t cols,
                                    bool colsFast) {
  Value e = arith::AddIOp::create(
      b, loc, tid,
      arith::MulIOp::create(b, loc, step, indexConst(b, loc, kThreads)));
  Value fast = indexConst(b, loc, colsFast ? cols : rows);
  Value quot = arith::DivUIOp::create(b, loc, e, fast);
  Value rem = arith::RemUIOp::create(b, loc, e, fast);
  return colsFast ? std::make_pair(quot, rem) : std::make_pair(rem, quot);
}

/// r < rows && c < cols.
Value inBounds(OpBuilder &b, Location loc, Value r, Value rows, Value c,
               Value cols) {
  return arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, rows),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, cols));
}

struct GPUTensorCoreMatmulPass
    : public qopt::impl::GPUTensorCoreMatmulPassBase<GPUTensorCoreMatmulPass> {
  using GPUTensorCoreMatmulPassBase::GPUTensorCoreMatmulPassBase;

  void runOnOperation() override {
    SmallVector<std::pair<linalg::LinalgOp, MatmulDims>> matmuls;
    getOperation()->walk([&](linalg::LinalgOp op) {
      if (op->getParentOfType<gpu::LaunchOp>())
        return;
      if (std::optional<MatmulDims> d = matchMatmul(op))
        matmuls.emplace_back(op, *d);
    });
    for (auto &[op, dims] : matmuls) {
      emitKernel(op, dims);
      op->erase();
    }
  }

  /// Indices into `operand` given values for the loop dims (unset dims are
  /// not read by the operand's map).
  static SmallVector<Value> indicesOf(linalg::LinalgOp op, OpOperand *operand,
                                      ArrayRef<Value> loopValues) {
    SmallVector<Value> idx;
    for (AffineExpr e : op.getMatchingIndexingMap(operand).getResults())
      idx.push_back(loopValues[cast<AffineDimExpr>(e).getPosition()]);
    return idx;
  }

  /// Whether `dim` indexes `operand`'s innermost (contiguous) dimension.
  static bool isContiguousDim(linalg::LinalgOp op, OpOperand *operand,
                              unsigned dim) {
    AffineMap map = op.getMatchingIndexingMap(operand);
    return map.getNumResults() > 0 &&
           cast<AffineDimExpr>(map.getResults().back()).getPosition() == dim;
  }

  using StageFn = llvm::function_ref<void(OpBuilder &, Value)>;

  /// gpu.subgroup_mma (wmma) over the K loop: 2x2 16x16 fragments a warp,
  /// the sums stored to sC.
  static void emitWmmaTiles(OpBuilder &kb, Location loc, StageFn stageTiles,
                            Value sA, Value sB, Value sC, Value kSize,
                            Value warpRow, Value warpCol, Type fragElem,
                            Type accTy, Value zeroAcc, int64_t pitchA,
                            int64_t pitchB) {
    auto aType = gpu::MMAMatrixType::get({kFrag, kFrag}, fragElem, "AOp");
    auto bType = gpu::MMAMatrixType::get({kFrag, kFrag}, fragElem, "BOp");
    auto cType = gpu::MMAMatrixType::get({kFrag, kFrag}, accTy, "COp");
    Value zeroFrag =
        gpu::SubgroupMmaConstantMatrixOp::create(kb, loc, cType, zeroAcc);
    SmallVector<Value> init(4, zeroFrag);
    auto kLoop = scf::ForOp::create(kb, loc, indexConst(kb, loc, 0), kSize,
                                    indexConst(kb, loc, kTileK), init);
    {
      OpBuilder lb = OpBuilder::atBlockBegin(kLoop.getBody());
      stageTiles(lb, kLoop.getInductionVar());
      SmallVector<Value> acc(kLoop.getRegionIterArgs());
      for (int64_t kk = 0; kk < kTileK; kk += kFrag) {
        Value a[2], bf[2];
        for (int i = 0; i < 2; ++i) {
          Value row = arith::AddIOp::create(lb, loc, warpRow,
                                            indexConst(lb, loc, i * kFrag));
          a[i] = gpu::SubgroupMmaLoadMatrixOp::create(
              lb, loc, aType, sA, ValueRange{row, indexConst(lb, loc, kk)},
              lb.getIndexAttr(pitchA), UnitAttr());
          Value col = arith::AddIOp::create(lb, loc, warpCol,
                                            indexConst(lb, loc, i * kFrag));
          bf[i] = gpu::SubgroupMmaLoadMatrixOp::create(
              lb, loc, bType, sB, ValueRange{indexConst(lb, loc, kk), col},
              lb.getIndexAttr(pitchB), UnitAttr());
        }
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j)
            acc[i * 2 + j] = gpu::SubgroupMmaComputeOp::create(
                lb, loc, cType, a[i], bf[j], acc[i * 2 + j], UnitAttr(),
                UnitAttr());
      }
      gpu::BarrierOp::create(lb, loc);
      scf::YieldOp::create(lb, loc, acc);
    }
    // Fragments → sC, then each thread finishes 32 outputs.
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        Value row = arith::AddIOp::create(kb, loc, warpRow,
                                          indexConst(kb, loc, i * kFrag));
        Value col = arith::AddIOp::create(kb, loc, warpCol,
                                          indexConst(kb, loc, j * kFrag));
        gpu::SubgroupMmaStoreMatrixOp::create(
            kb, loc, kLoop.getResult(i * 2 + j), sC, ValueRange{row, col},
            kb.getIndexAttr(kPitchC), UnitAttr());
      }
  }

  /// nvvm.mma.sync m16n8k16 (bfloat16, float32 sums) over the K loop: a
  /// warp's 32x32 quarter is 2x4 tiles of 16x8, four f32 sums a lane each.
  /// Lane (g, t) = (lane / 4, lane % 4) holds, per PTX's fragment layout,
  /// A rows g and g+8 at columns 2t, 2t+1, 2t+8, 2t+9; B column g at rows
  /// 2t, 2t+1, 2t+8, 2t+9; C rows g and g+8 at columns 2t, 2t+1 — each pair
  /// packed in a 32-bit register, the lower index in the low half.
  static void emitMmaSyncTiles(OpBuilder &kb, Location loc, StageFn stageTiles,
                               Value sA, Value sB, Value sC, Value kSize,
                               Value tid, Value warpRow, Value warpCol,
                               Value zeroAcc) {
    auto add = [&](OpBuilder &bb, Value a, int64_t c) -> Value {
      return c == 0 ? a
                    : arith::AddIOp::create(bb, loc, a, indexConst(bb, loc, c));
    };
    Value lane = arith::RemUIOp::create(kb, loc, tid, indexConst(kb, loc, 32));
    Value g = arith::DivUIOp::create(kb, loc, lane, indexConst(kb, loc, 4));
    Value t2 = arith::MulIOp::create(
        kb, loc, arith::RemUIOp::create(kb, loc, lane, indexConst(kb, loc, 4)),
        indexConst(kb, loc, 2));
    Type i32 = kb.getI32Type(), i16 = kb.getI16Type(), f32 = kb.getF32Type();
    // Two bf16 from shared memory packed in an i32 (first in the low half).
    auto pack = [&](OpBuilder &bb, Value m, Value r0, Value c0, Value r1,
                    Value c1) -> Value {
      auto bits = [&](Value r, Value c) -> Value {
        Value v = memref::LoadOp::create(bb, loc, m, ValueRange{r, c});
        return arith::ExtUIOp::create(
            bb, loc, i32, arith::BitcastOp::create(bb, loc, i16, v));
      };
      Value lo = bits(r0, c0), hi = bits(r1, c1);
      Value sh = arith::ShLIOp::create(
          bb, loc, hi, arith::ConstantIntOp::create(bb, loc, i32, 16));
      return arith::OrIOp::create(bb, loc, lo, sh);
    };
    constexpr int kTilesM = 2, kTilesN = 4;
    SmallVector<Value> init(kTilesM * kTilesN * 4, zeroAcc);
    auto kLoop = scf::ForOp::create(kb, loc, indexConst(kb, loc, 0), kSize,
                                    indexConst(kb, loc, kTileK), init);
    {
      OpBuilder lb = OpBuilder::atBlockBegin(kLoop.getBody());
      stageTiles(lb, kLoop.getInductionVar());
      SmallVector<Value> acc(kLoop.getRegionIterArgs());
      auto resTy = LLVM::LLVMStructType::getLiteral(lb.getContext(),
                                                    SmallVector<Type>(4, f32));
      for (int64_t kk = 0; kk < kTileK; kk += kFrag) {
        Value ca = add(lb, t2, kk), cb = add(lb, t2, kk + 8);
        SmallVector<Value> a[kTilesM], bf[kTilesN];
        for (int i = 0; i < kTilesM; ++i) {
          Value r0 =
              arith::AddIOp::create(lb, loc, add(lb, warpRow, 16 * i), g);
          Value r1 = add(lb, r0, 8);
          a[i] = {pack(lb, sA, r0, ca, r0, add(lb, ca, 1)),
                  pack(lb, sA, r1, ca, r1, add(lb, ca, 1)),
                  pack(lb, sA, r0, cb, r0, add(lb, cb, 1)),
                  pack(lb, sA, r1, cb, r1, add(lb, cb, 1))};
        }
        for (int j = 0; j < kTilesN; ++j) {
          Value n = arith::AddIOp::create(lb, loc, add(lb, warpCol, 8 * j), g);
          bf[j] = {pack(lb, sB, ca, n, add(lb, ca, 1), n),
                   pack(lb, sB, cb, n, add(lb, cb, 1), n)};
        }
        for (int i = 0; i < kTilesM; ++i)
          for (int j = 0; j < kTilesN; ++j) {
            int64_t base = (i * kTilesN + j) * 4;
            auto mma = NVVM::MmaOp::create(
                lb, loc, resTy, a[i], bf[j],
                ArrayRef<Value>(acc).slice(base, 4), {16, 8, 16}, std::nullopt,
                std::nullopt,
                std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16,
                                              NVVM::MMATypes::bf16},
                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                               NVVM::MMALayout::col});
            for (int64_t e = 0; e < 4; ++e)
              acc[base + e] = LLVM::ExtractValueOp::create(
                  lb, loc, mma.getResult(), ArrayRef<int64_t>{e});
          }
      }
      gpu::BarrierOp::create(lb, loc);
      scf::YieldOp::create(lb, loc, acc);
    }
    for (int i = 0; i < kTilesM; ++i)
      for (int j = 0; j < kTilesN; ++j) {
        Value r0 = arith::AddIOp::create(kb, loc, add(kb, warpRow, 16 * i), g);
        Value c0 = arith::AddIOp::create(kb, loc, add(kb, warpCol, 8 * j), t2);
        int64_t base = (i * kTilesN + j) * 4;
        for (int e = 0; e < 4; ++e)
          memref::StoreOp::create(
              kb, loc, kLoop.getResult(base + e), sC,
              ValueRange{e < 2 ? r0 : add(kb, r0, 8), add(kb, c0, e % 2)});
      }
  }

  void emitKernel(linalg::LinalgOp op, const MatmulDims &dims) {
    MLIRContext *ctx = op.getContext();
    Location loc = op.getLoc();
    OpBuilder b(op);
    SmallVector<Range> ranges = op.createLoopRanges(b, loc);
    auto size = [&](unsigned d) {
      return getValueOrCreateConstantIndexOp(b, loc, ranges[d].size);
    };
    Value mSize = size(dims.m), nSize = size(dims.n), kSize = size(dims.k);
    Value one = indexConst(b, loc, 1);
    // Blocks: ceil(N/64) x ceil(M/64) x (product of batch sizes).
    auto ceilDiv = [&](Value v, int64_t d) -> Value {
      return arith::DivUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, v, indexConst(b, loc, d - 1)),
          indexConst(b, loc, d));
    };
    SmallVector<Value> batchSizes;
    Value batches;
    for (unsigned d : dims.batch) {
      batchSizes.push_back(size(d));
      batches = batches
                    ? arith::MulIOp::create(b, loc, batches, batchSizes.back())
                          .getResult()
                    : batchSizes.back();
    }
    if (!batches)
      batches = one;
    // Operand tiles hold the inputs' type (f16 / i8), the sums f32 / i32.
    const MmaKind &kind = dims.kind;
    Type f32 = b.getF32Type();
    Type elem = kind.isInt    ? Type(b.getI8Type())
                : kind.isBF16 ? Type(b.getBF16Type())
                              : Type(b.getF16Type());
    Type accTy = kind.isInt ? Type(b.getI32Type()) : f32;
    const int64_t pitchA = kind.pitchA(), pitchB = kind.pitchB();
    auto wg = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    auto sAType = MemRefType::get({kTile, pitchA}, elem, AffineMap(), wg);
    auto sBType = MemRefType::get({kTileK, pitchB}, elem, AffineMap(), wg);
    auto sCType = MemRefType::get({kTile, kPitchC}, accTy, AffineMap(), wg);
    auto launch = gpu::LaunchOp::create(b, loc, ceilDiv(nSize, kTile),
                                        ceilDiv(mSize, kTile), batches,
                                        indexConst(b, loc, kThreads), one, one,
                                        /*dynamicSharedMemorySize=*/Value(),
                                        /*asyncTokenType=*/Type(), ValueRange{},
                                        TypeRange{sAType, sBType, sCType});
    Value sA = launch.getWorkgroupAttributions()[0];
    Value sB = launch.getWorkgroupAttributions()[1];
    Value sC = launch.getWorkgroupAttributions()[2];

    OpBuilder kb = OpBuilder::atBlockBegin(&launch.getBody().front());
    Value tid = launch.getThreadIds().x;
    Value zeroIdx = indexConst(kb, loc, 0);
    Value m0 = arith::MulIOp::create(kb, loc, launch.getBlockIds().y,
                                     indexConst(kb, loc, kTile));
    Value n0 = arith::MulIOp::create(kb, loc, launch.getBlockIds().x,
                                     indexConst(kb, loc, kTile));
    // Batch indices (row-major over the batch dims).
    SmallVector<Value> loopValues(op.getNumLoops(), zeroIdx);
    if (!dims.batch.empty()) {
      SmallVector<Value> batchIdx =
          dims.batch.size() == 1
              ? SmallVector<Value>{launch.getBlockIds().z}
              : SmallVector<Value>(
                    affine::AffineDelinearizeIndexOp::create(
                        kb, loc, launch.getBlockIds().z, batchSizes)
                        .getResults());
      for (auto [d, v] : llvm::zip(dims.batch, batchIdx))
        loopValues[d] = v;
    }
    Value warp = arith::DivUIOp::create(kb, loc, tid, indexConst(kb, loc, 32));
    Value warpRow = arith::MulIOp::create(
        kb, loc, arith::DivUIOp::create(kb, loc, warp, indexConst(kb, loc, 2)),
        indexConst(kb, loc, 32));
    Value warpCol = arith::MulIOp::create(
        kb, loc, arith::RemUIOp::create(kb, loc, warp, indexConst(kb, loc, 2)),
        indexConst(kb, loc, 32));

    // wmma names the signedness of int8 fragments (si8 / ui8).
    Type fragElem =
        kind.isInt
            ? Type(IntegerType::get(ctx, 8,
                                    kind.isUnsigned ? IntegerType::Unsigned
                                                    : IntegerType::Signed))
            : elem;
    Value zeroAcc = arith::ConstantOp::create(kb, loc, kb.getZeroAttr(accTy));
    Value zeroElem = arith::ConstantOp::create(kb, loc, kb.getZeroAttr(elem));

    OpOperand *opA = op.getDpsInputOperand(0), *opB = op.getDpsInputOperand(1);
    OpOperand *opC = op.getDpsInitOperand(0);

    // Copies a rows x cols tile of `operand` (row dim `rowDim`, col dim
    // `colDim` of the loop space, starting at r0 / c0) into `shared`,
    // zero outside [0, rowSize) x [0, colSize). Consecutive threads walk
    // the operand's contiguous dimension.
    auto copyTile = [&](OpBuilder &bb, OpOperand *operand, Value shared,
                        int64_t rows, int64_t cols, unsigned rowDim,
                        unsigned colDim, Value r0, Value c0, Value rowSize,
                        Value colSize) {
      bool colsFast = !isContiguousDim(op, operand, rowDim);
      int64_t perThread = rows * cols / kThreads;
      auto loop = scf::ForOp::create(bb, loc, indexConst(bb, loc, 0),
                                     indexConst(bb, loc, perThread),
                                     indexConst(bb, loc, 1));
      OpBuilder lb = OpBuilder::atBlockBegin(loop.getBody());
      auto [r, c] = tileElement(lb, loc, tid, loop.getInductionVar(), rows,
                                cols, colsFast);
      Value gr = arith::AddIOp::create(lb, loc, r0, r);
      Value gc = arith::AddIOp::create(lb, loc, c0, c);
      Value inRange = inBounds(lb, loc, gr, rowSize, gc, colSize);
      auto ifOp = scf::IfOp::create(lb, loc, TypeRange{elem}, inRange,
                                    /*withElseRegion=*/true);
      {
        OpBuilder tb = ifOp.getThenBodyBuilder();
        SmallVector<Value> lv = loopValues;
        lv[rowDim] = gr;
        lv[colDim] = gc;
        Value v = memref::LoadOp::create(tb, loc, operand->get(),
                                         indicesOf(op, operand, lv));
        scf::YieldOp::create(tb, loc, v);
        OpBuilder eb = ifOp.getElseBodyBuilder();
        scf::YieldOp::create(eb, loc, zeroElem);
      }
      memref::StoreOp::create(lb, loc, ifOp.getResult(0), shared,
                              ValueRange{r, c});
    };

    // One K step: both operand tiles into shared memory, then the warps'
    // products from there.
    auto stageTiles = [&](OpBuilder &lb, Value k0) {
      copyTile(lb, opA, sA, kTile, kTileK, dims.m, dims.k, m0, k0, mSize,
               kSize);
      copyTile(lb, opB, sB, kTileK, kTile, dims.k, dims.n, k0, n0, kSize,
               nSize);
      gpu::BarrierOp::create(lb, loc);
    };
    if (kind.isBF16)
      emitMmaSyncTiles(kb, loc, stageTiles, sA, sB, sC, kSize, tid, warpRow,
                       warpCol, zeroAcc);
    else
      emitWmmaTiles(kb, loc, stageTiles, sA, sB, sC, kSize, warpRow, warpCol,
                    fragElem, accTy, zeroAcc, pitchA, pitchB);
    gpu::BarrierOp::create(kb, loc);
    {
      bool colsFast = isContiguousDim(op, opC, dims.n);
      auto loop =
          scf::ForOp::create(kb, loc, indexConst(kb, loc, 0),
                             indexConst(kb, loc, kTile * kTile / kThreads),
                             indexConst(kb, loc, 1));
      OpBuilder lb = OpBuilder::atBlockBegin(loop.getBody());
      auto [r, c] = tileElement(lb, loc, tid, loop.getInductionVar(), kTile,
                                kTile, colsFast);
      Value gm = arith::AddIOp::create(lb, loc, m0, r);
      Value gn = arith::AddIOp::create(lb, loc, n0, c);
      Value inRange = inBounds(lb, loc, gm, mSize, gn, nSize);
      auto ifOp = scf::IfOp::create(lb, loc, inRange, false);
      OpBuilder tb = ifOp.getThenBodyBuilder();
      SmallVector<Value> lv = loopValues;
      lv[dims.m] = gm;
      lv[dims.n] = gn;
      SmallVector<Value> idx = indicesOf(op, opC, lv);
      Value sum = memref::LoadOp::create(tb, loc, sC, ValueRange{r, c});
      Value initial = memref::LoadOp::create(tb, loc, opC->get(), idx);
      Type outTy = initial.getType();
      Value total;
      if (kind.isInt) {
        total = arith::AddIOp::create(tb, loc, initial, sum);
      } else {
        if (!outTy.isF32())
          initial = arith::ExtFOp::create(tb, loc, f32, initial);
        total = arith::AddFOp::create(tb, loc, initial, sum);
        if (!outTy.isF32())
          total = arith::TruncFOp::create(tb, loc, outTy, total);
      }
      memref::StoreOp::create(tb, loc, total, opC->get(), idx);
    }
    gpu::TerminatorOp::create(kb, loc);
  }
};

} // namespace
