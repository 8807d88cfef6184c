// RUN: quant-opt %s --qopt-plan-memory="alignment=48" --verify-diagnostics

// expected-error @below {{qopt-plan-memory: alignment 48 is not a power of two}}
module {
}
