//===- PruneUnits.cpp - whole heads and neurons for qopt-prune ------------===//

#include "PruneUnits.h"
#include "StructuredRegion.h"

#include "qopt/Support/Pruning.h"

#include "llvm/ADT/DenseSet.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qopt;

void mlir::qopt::selectUnits(SmallVectorImpl<UnitLayer> &layers, bool heads,
                             double fraction) {
  DenseMap<Operation *, UnitLayer *> byOp;
  for (UnitLayer &l : layers) {
    l.mask.assign(size_t(l.rows * l.cols), false);
    l.biasMask.assign(size_t(l.rows), false);
    byOp[l.op] = &l;
  }
  DenseSet<Operation *> done;
  for (UnitLayer &seed : layers) {
    if (done.contains(seed.op))
      continue;
    std::string why;
    FailureOr<StructuredRegion> region = findStructuredRegion(seed.op, why);
    if (failed(region) || region->consumers.empty() ||
        region->grouped() != heads)
      continue;
    for (LinearOp p : region->producers)
      done.insert(p);
    SmallVector<UnitLayer *> producers, consumers;
    std::string missing;
    for (LinearOp p : region->producers) {
      if (UnitLayer *l = byOp.lookup(p))
        producers.push_back(l);
      else
        missing = cast<QuantizableLayerOpInterface>(*p).getLayerName();
    }
    for (LinearOp c : region->consumers) {
      if (UnitLayer *l = byOp.lookup(c))
        consumers.push_back(l);
      else
        missing = cast<QuantizableLayerOpInterface>(*c).getLayerName();
    }
    if (!missing.empty()) {
      seed.op.emitRemark("qopt-prune: the ")
          << (heads ? "heads" : "neurons") << " of layer '"
          << cast<QuantizableLayerOpInterface>(*seed.op).getLayerName()
          << "' also span layer '" << missing
          << "', which is not selected (or has no constant weight): they "
             "stay";
      continue;
    }
    int64_t units = region->units;
    std::vector<double> sq(size_t(units), 0.0);
    for (UnitLayer *p : producers) {
      int64_t g = p->rows / units;
      for (int64_t r = 0; r < p->rows; ++r)
        for (int64_t c = 0; c < p->cols; ++c) {
          double s = (*p->scores)[size_t(r * p->cols + c)];
          sq[size_t(r / g)] += s * s;
        }
    }
    for (UnitLayer *k : consumers) {
      int64_t g = k->cols / units;
      for (int64_t r = 0; r < k->rows; ++r)
        for (int64_t c = 0; c < k->cols; ++c) {
          double s = (*k->scores)[size_t(r * k->cols + c)];
          sq[size_t(c / g)] += s * s;
        }
    }
    std::vector<double> norms(sq.size());
    for (size_t u = 0; u < sq.size(); ++u)
      norms[u] = std::sqrt(sq[u]);
    std::vector<bool> pruned(size_t(units), false);
    ::qopt::markSmallest(norms, 0, units, ::qopt::pruneCount(fraction, units),
                         pruned);
    for (UnitLayer *p : producers) {
      p->involved = true;
      int64_t g = p->rows / units;
      for (int64_t r = 0; r < p->rows; ++r)
        if (pruned[size_t(r / g)]) {
          p->biasMask[size_t(r)] = true;
          for (int64_t c = 0; c < p->cols; ++c)
            p->mask[size_t(r * p->cols + c)] = true;
        }
    }
    for (UnitLayer *k : consumers) {
      k->involved = true;
      int64_t g = k->cols / units;
      for (int64_t r = 0; r < k->rows; ++r)
        for (int64_t c = 0; c < k->cols; ++c)
          if (pruned[size_t(c / g)])
            k->mask[size_t(r * k->cols + c)] = true;
    }
  }
}
