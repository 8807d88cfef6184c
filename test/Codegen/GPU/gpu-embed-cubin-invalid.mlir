// RUN: quant-opt %s -split-input-file -verify-diagnostics --qopt-gpu-embed-cubin="cubin=never"
// RUN: not quant-opt %s --qopt-gpu-embed-cubin="cubin=sometimes" 2>&1 | FileCheck %s --check-prefix=OPTION
// RUN: not quant-opt %s --qopt-gpu-embed-cubin="cubin=always toolkit=%t.no-such-toolkit" 2>&1 | FileCheck %s --check-prefix=TOOLKIT
// RUN: not quant-opt %S/gpu-embed-cubin.mlir --qopt-gpu-embed-cubin="cubin=never write-ptx=%s/not-a-dir" 2>&1 | FileCheck %s --check-prefix=WRITE

// OPTION: for the --cubin option: Cannot find option named 'sometimes'!
// TOOLKIT: error: qopt-gpu-embed-cubin: cubin=always but the CUDA toolkit's ptxas was not found in {{.*}}no-such-toolkit/bin
// WRITE: error: qopt-gpu-embed-cubin: cannot create '{{.*}}not-a-dir'

// A kernel that calls libdevice math which was never linked would fail in
// ptxas or at load time: the pass names the module and the function.
module attributes {gpu.container_module} {
  // expected-error @below {{kernel module @k calls libdevice's __nv_expf, which is not linked in}}
  gpu.binary @k [#gpu.object<#nvvm.target<chip = "sm_90">, assembly = ".version 8.0\0A.target sm_90\0A.address_size 64\0A.extern .func (.param .b32 r) __nv_expf(.param .b32 x);\0A">]
}

// -----

// Objects that are not PTX (here a fatbin already) are left alone.
module attributes {gpu.container_module} {
  gpu.binary @k [#gpu.object<#nvvm.target<chip = "sm_90">, "P\ED">]
}
