//===- PruneUnits.h - whole heads and neurons for qopt-prune ----*- C++ -*-===//
//
// qopt-prune granularity=heads|neurons: the structured units of the
// layers' output channels (StructuredRegion.h), scored over every layer
// they span, the smallest zeroed in all of them.
//
//===----------------------------------------------------------------------===//

#ifndef QOPT_LIB_TRANSFORMS_PRUNEUNITS_H
#define QOPT_LIB_TRANSFORMS_PRUNEUNITS_H

#include "qopt/Dialect/QOpt/IR/QOptOps.h"

#include <vector>

namespace mlir::qopt {

/// A selected linear layer: its scores [rows, cols] (row-major) in, the
/// weights and bias entries to zero out.
struct UnitLayer {
  LinearOp op;
  const std::vector<double> *scores = nullptr;
  int64_t rows = 0, cols = 0;
  std::vector<bool> mask;     // [rows, cols]
  std::vector<bool> biasMask; // [rows]
  bool involved = false;      // part of a pruned unit region
};

/// Fills the masks: for every region of `heads` units (a reshape groups
/// the channels) or of neurons (it does not) whose layers are all in
/// `layers`, the floor(fraction · units) units with the smallest L2 norm of
/// their scores (ties: the smaller unit). Regions with a layer that is not
/// selected are left alone with a remark.
void selectUnits(SmallVectorImpl<UnitLayer> &layers, bool heads,
                 double fraction);

} // namespace mlir::qopt

#endif // QOPT_LIB_TRANSFORMS_PRUNEUNITS_H
