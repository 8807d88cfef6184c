// RUN: rm -rf %t && mkdir -p %t
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/sql '{"peft_type": "LORA", "r": 1, "lora_alpha": 2, "target_modules": ["q_proj"], "bias": "none"}' layers.0.q_proj=1x2:2x1
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/rs '{"r": 4, "lora_alpha": 8, "use_rslora": true, "rank_pattern": {"q_proj": 1}, "alpha_pattern": {"q_proj": 3}}' layers.0.q_proj=1x2:2x1:f16
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/sql" | FileCheck %s
// A module path that is a suffix of one layer's (an export through a
// wrapper module adds a prefix) attaches to that layer.
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/suffix/sql '{"r": 1, "lora_alpha": 2}' 0.q_proj=1x2:2x1
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/suffix/sql" | FileCheck %s --check-prefix=SUFFIX
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/sql:0.5,%t/rs" | FileCheck %s --check-prefix=TWO
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/sql" --qopt-fold-lora | FileCheck %s --check-prefix=FOLD
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/sql,%t/rs switch=true" | FileCheck %s --check-prefix=SWITCH
// RUN: quant-opt %s --qopt-attach-adapters="adapters=%t/sql,%t/rs switch=true" --qopt-export-signature="entry=block" | FileCheck %s --check-prefix=SIG

// scale = lora_alpha / r = 2; the adapter sits on q_proj's output and
// reads its input; the unadapted layer is left alone.
// CHECK-LABEL: func.func @block
// CHECK: %[[A:.*]] = arith.constant dense_resource<sql.layers.0.q_proj.lora_A> : tensor<1x2xf32>
// CHECK: %[[B:.*]] = arith.constant dense_resource<sql.layers.0.q_proj.lora_B> : tensor<2x1xf32>
// CHECK: %[[Y:.*]] = qopt.linear %arg0, %{{.*}} {weight_name = "layers.0.q_proj.weight"}
// CHECK: %[[Z:.*]] = qopt.lora %[[Y]], %arg0, %[[A]], %[[B]] scale 2.000000e+00 {adapter = "sql"}
// CHECK: qopt.linear %[[Z]], %{{.*}} {weight_name = "layers.0.o_proj.weight"}
// CHECK-NOT: qopt.lora
// SUFFIX: %[[Y:.*]] = qopt.linear %arg0, %{{.*}} {weight_name = "layers.0.q_proj.weight"}
// SUFFIX: qopt.lora %[[Y]], %arg0, %{{.*}}, %{{.*}} scale 2.000000e+00 {adapter = "sql"}
// SUFFIX-NOT: qopt.lora
// Two adapters stack; rsLoRA with the patterns: 3 / sqrt(1) = 3; the user's
// weight 0.5 multiplies sql's 2.
// TWO: %[[Z:.*]] = qopt.lora %{{.*}} scale 1.000000e+00 {adapter = "sql"}
// TWO: qopt.lora %[[Z]], %arg0, %{{.*}}, %{{.*}} scale 3.000000e+00 {adapter = "rs"} : (tensor<3x2xf32>, tensor<3x2xf32>, tensor<1x2xf16>, tensor<2x1xf16>) -> tensor<3x2xf32>
// (rs's matrices are F16 in the file and stay f16.)
// A = [[0.5, 0.75]], B = [[1], [2]]: W' = W + 2 · B·A = [[1 + 1, 1.5], [2, 1 + 3]].
// FOLD: arith.constant dense<{{\[\[}}2.000000e+00, 1.500000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// FOLD-NOT: qopt.lora
// Switch mode: the function gets the selector input, each adapter its index,
// the module the adapter names; the signature lists them.
// SWITCH: module attributes {qopt.adapters = ["sql", "rs"]}
// SWITCH: func.func @block(%arg0: tensor<3x2xf32>, %arg1: tensor<i64> {onnx.name = "qopt_adapter"})
// SWITCH: %[[Z:.*]] = qopt.lora %{{.*}}, %arg0, %{{.*}}, %{{.*}} scale 2.000000e+00 select %arg1 {adapter = "sql", adapter_index = 0 : i64}
// SWITCH: qopt.lora %[[Z]], %arg0, %{{.*}}, %{{.*}} scale 3.000000e+00 select %arg1 {adapter = "rs", adapter_index = 1 : i64}
// SIG: input qopt_adapter int64 0
// SIG-SAME: adapter sql\0Aadapter rs\0A
func.func @block(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %wq = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %wo = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.linear %x, %wq {weight_name = "layers.0.q_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %o = qopt.linear %q, %wo {weight_name = "layers.0.o_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}
