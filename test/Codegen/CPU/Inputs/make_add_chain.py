"""Prints a func with a chain of N element-wise adds on tensors (N = argv[1])."""
import sys

n = int(sys.argv[1])
print("func.func @chain(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {")
prev = "%x"
for i in range(n):
    print(f"  %t{i} = arith.addf {prev}, %x : tensor<4x8xf32>")
    prev = f"%t{i}"
print(f"  return {prev} : tensor<4x8xf32>")
print("}")
