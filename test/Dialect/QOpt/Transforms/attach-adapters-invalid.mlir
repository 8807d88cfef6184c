// Every way an adapter can fail to fit is an error naming the adapter,
// module or file.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/nolayer '{"r": 1, "lora_alpha": 1}' layers.9.v_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/nolayer" 2>&1 | FileCheck %s --check-prefix=NOLAYER
// NOLAYER: error: qopt-attach-adapters: adapter 'nolayer', module 'layers.9.v_proj': matches no layer of the model; its layers are:
// NOLAYER-NEXT: layers.0.k_proj
// NOLAYER-NEXT: layers.0.q_proj
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/shape '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x3:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/shape" 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: error: qopt-attach-adapters: adapter 'shape', module 'layers.0.q_proj': A is 1x3 and B 2x1, the layer's weight is 2x2 (expected A r x in, B out x r)
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/rank '{"r": 2, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/rank" 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: error: qopt-attach-adapters: adapter 'rank', module 'layers.0.q_proj': its matrices have rank 1 but the config says 2
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/dora '{"r": 1, "lora_alpha": 1, "use_dora": true}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/dora" 2>&1 | FileCheck %s --check-prefix=DORA
// DORA: error: qopt-attach-adapters: {{.*}}dora/adapter_config.json: DoRA adapters (use_dora: true) are not supported
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/ia3 '{"peft_type": "IA3", "r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/ia3" 2>&1 | FileCheck %s --check-prefix=TYPE
// TYPE: error: qopt-attach-adapters: {{.*}}ia3/adapter_config.json: peft_type 'IA3' is not supported (only LORA adapters can be attached)
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/bias '{"r": 1, "lora_alpha": 1, "bias": "all"}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/bias" 2>&1 | FileCheck %s --check-prefix=BIAS
// BIAS: error: qopt-attach-adapters: {{.*}}bias/adapter_config.json: bias 'all' is not supported
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/save '{"r": 1, "lora_alpha": 1, "modules_to_save": ["lm_head"]}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/save" 2>&1 | FileCheck %s --check-prefix=SAVE
// SAVE: error: qopt-attach-adapters: {{.*}}save/adapter_config.json: modules_to_save is not supported
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/extra '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1 --extra=base_model.model.embed.lora_embedding_A
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/extra" 2>&1 | FileCheck %s --check-prefix=EXTRA
// EXTRA: error: qopt-attach-adapters: {{.*}}extra/adapter_model.safetensors: tensor 'base_model.model.embed.lora_embedding_A' is not a LoRA matrix
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/missing" 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: qopt-attach-adapters: {{.*}}missing/adapter_config.json: No such file or directory
// RUN: mkdir -p %t/badjson && echo '{"r": 1,' > %t/badjson/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/badjson" 2>&1 | FileCheck %s --check-prefix=JSON
// JSON: error: qopt-attach-adapters: {{.*}}badjson/adapter_config.json: not valid JSON
// RUN: mkdir -p %t/noweights && echo '{"r": 1, "lora_alpha": 1}' > %t/noweights/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/noweights" 2>&1 | FileCheck %s --check-prefix=NOWEIGHTS
// NOWEIGHTS: error: qopt-attach-adapters: {{.*}}noweights/adapter_model.safetensors
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/sql:" 2>&1 | FileCheck %s --check-prefix=SPEC
// SPEC: error: qopt-attach-adapters: '{{.*}}sql:': expected DIR or DIR:SCALE

// RUN: %PYTHON %S/Inputs/make_adapter.py %t/twice '{"r": 1, "lora_alpha": 1}' layers.0.k_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/twice" 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: qopt-attach-adapters: adapter 'twice', module 'layers.0.k_proj': matches several layers of that name (a module called more than once); it cannot be attached to one

func.func @block(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %wq = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.linear %x, %wq {weight_name = "layers.0.q_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %k1 = qopt.linear %q, %wq {weight_name = "layers.0.k_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %k2 = qopt.linear %k1, %wq {weight_name = "layers.0.k_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %k2 : tensor<3x2xf32>
}
