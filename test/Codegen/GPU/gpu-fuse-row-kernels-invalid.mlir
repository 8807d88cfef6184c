// RUN: not quant-opt %s --pass-pipeline="builtin.module(func.func(qopt-gpu-fuse-row-kernels{block-size=48}))" 2>&1 | FileCheck %s
// RUN: not quant-opt %s --pass-pipeline="builtin.module(func.func(qopt-gpu-fuse-row-kernels{block-size=2048}))" 2>&1 | FileCheck %s --check-prefix=BIG

// The block size must be whole warps that fit a block.
// CHECK: error: qopt-gpu-fuse-row-kernels: block-size must be a multiple of 32 in [32, 1024], not 48
// BIG: error: qopt-gpu-fuse-row-kernels: block-size must be a multiple of 32 in [32, 1024], not 2048
func.func @f() {
  return
}
