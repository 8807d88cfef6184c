// Every way an adapter can fail to fit is an error naming the adapter,
// module or file.
// RUN: rm -rf %t && mkdir -p %t
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/nolayer '{"r": 1, "lora_alpha": 1}' layers.9.v_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/nolayer" 2>&1 | FileCheck %s --check-prefix=NOLAYER
// NOLAYER: error: qopt-attach-adapters: adapter 'nolayer', module 'layers.9.v_proj': matches no layer of the model; its layers are:
// NOLAYER-NEXT: layers.0.conv
// NOLAYER-NEXT: layers.0.h_proj
// NOLAYER-NEXT: layers.0.k_proj
// NOLAYER-NEXT: layers.0.q_proj
// NOLAYER-NEXT: layers.1.o_proj
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

// RUN: %PYTHON %S/Inputs/make_adapter.py %t/conv '{"r": 1, "lora_alpha": 1}' layers.0.conv=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/conv" 2>&1 | FileCheck %s --check-prefix=CONV
// CONV: error: qopt-attach-adapters: adapter 'conv', module 'layers.0.conv': its layer is a 'linalg.conv_2d_nchw_fchw'; adapters attach to linear layers
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/half '{"r": 1, "lora_alpha": 1}' layers.0.h_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/half" 2>&1 | FileCheck %s --check-prefix=HALF
// HALF: error: qopt-attach-adapters: adapter 'half', module 'layers.0.h_proj': the layer computes in a non-f32 type; only f32 layers are adapted
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/onlya '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1 --drop=base_model.model.layers.0.q_proj.lora_B.weight
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/onlya" 2>&1 | FileCheck %s --check-prefix=ONLYA
// ONLYA: error: qopt-attach-adapters: adapter 'onlya', module 'layers.0.q_proj': lora_B.weight is missing
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/onlyb '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1 --drop=base_model.model.layers.0.q_proj.lora_A.weight
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/onlyb" 2>&1 | FileCheck %s --check-prefix=ONLYB
// ONLYB: error: qopt-attach-adapters: adapter 'onlyb', module 'layers.0.q_proj': lora_A.weight is missing
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/flat '{"r": 1, "lora_alpha": 1}' --extra=base_model.model.layers.0.q_proj.lora_A.weight
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/flat" 2>&1 | FileCheck %s --check-prefix=FLAT
// FLAT: error: qopt-attach-adapters: {{.*}}flat/adapter_model.safetensors: tensor 'base_model.model.layers.0.q_proj.lora_A.weight' must be 2-D
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/ints '{"r": 1, "lora_alpha": 1}' --extra-i32=base_model.model.layers.0.q_proj.lora_A.weight
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/ints" 2>&1 | FileCheck %s --check-prefix=INTS
// INTS: error: qopt-attach-adapters: {{.*}}ints/adapter_model.safetensors: tensor 'base_model.model.layers.0.q_proj.lora_A.weight' {{.*}}I32 is not a floating-point type
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/a/sql '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/b/sql '{"r": 1, "lora_alpha": 1}' layers.0.q_proj=1x2:2x1
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/a/sql,%t/b/sql" 2>&1 | FileCheck %s --check-prefix=SAMENAME
// SAMENAME: error: qopt-attach-adapters: two adapters are named 'sql' (the folder's name)
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/a/sql switch=true" 2>&1 | FileCheck %s --check-prefix=TWOFUNCS
// TWOFUNCS: error: qopt-attach-adapters: switch needs the layers in one function, they are in @
// RUN: not quant-opt %S/Inputs/adapter-input-taken.mlir --qopt-attach-adapters="adapters=%t/a/sql switch=true" 2>&1 | FileCheck %s --check-prefix=TAKEN
// TAKEN: error: qopt-attach-adapters: switch: @f already has an input named 'qopt_adapter'
// RUN: %PYTHON %S/Inputs/make_adapter.py %t/suffix '{"r": 1, "lora_alpha": 1}' proj=1x2:2x1
// RUN: not quant-opt %S/Inputs/two-layers-one-suffix.mlir --qopt-attach-adapters="adapters=%t/suffix" 2>&1 | FileCheck %s --check-prefix=SUFFIX
// SUFFIX: error: qopt-attach-adapters: adapter 'suffix', module 'proj': matches no layer exactly, and 2 layers by suffix ('a.proj', 'b.proj'...); it cannot be attached to one
// RUN: not quant-opt %S/Inputs/no-layers.mlir --qopt-attach-adapters="adapters=%t/a/sql switch=true" 2>&1 | FileCheck %s --check-prefix=NOLAYERS
// NOLAYERS: error: qopt-attach-adapters: switch: no function with layers

// Config fields that cannot be used.
// RUN: mkdir -p %t/cfg1 %t/cfg2 %t/cfg3 %t/cfg4 %t/cfg5
// RUN: echo '[1, 2]' > %t/cfg1/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/cfg1" 2>&1 | FileCheck %s --check-prefix=CFGOBJ
// CFGOBJ: error: qopt-attach-adapters: {{.*}}cfg1/adapter_config.json: expected a JSON object
// RUN: echo '{"r": 0, "lora_alpha": 1}' > %t/cfg2/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/cfg2" 2>&1 | FileCheck %s --check-prefix=CFGR
// CFGR: error: qopt-attach-adapters: {{.*}}cfg2/adapter_config.json: 'r' must be an integer >= 1
// RUN: echo '{"r": 1}' > %t/cfg3/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/cfg3" 2>&1 | FileCheck %s --check-prefix=CFGALPHA
// CFGALPHA: error: qopt-attach-adapters: {{.*}}cfg3/adapter_config.json: 'lora_alpha' must be a number
// RUN: echo '{"r": 1, "lora_alpha": 1, "rank_pattern": {"q_proj": "big"}}' > %t/cfg4/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/cfg4" 2>&1 | FileCheck %s --check-prefix=CFGRANK
// CFGRANK: error: qopt-attach-adapters: {{.*}}cfg4/adapter_config.json: rank_pattern['q_proj'] must be an integer >= 1
// RUN: echo '{"r": 1, "lora_alpha": 1, "alpha_pattern": {"q_proj": null}}' > %t/cfg5/adapter_config.json
// RUN: not quant-opt %s --qopt-attach-adapters="adapters=%t/cfg5" 2>&1 | FileCheck %s --check-prefix=CFGA
// CFGA: error: qopt-attach-adapters: {{.*}}cfg5/adapter_config.json: alpha_pattern['q_proj'] must be a number

func.func @block(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %wq = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %q = qopt.linear %x, %wq {weight_name = "layers.0.q_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %k1 = qopt.linear %q, %wq {weight_name = "layers.0.k_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %k2 = qopt.linear %k1, %wq {weight_name = "layers.0.k_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  %wh = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf16>
  %xh = arith.truncf %k2 : tensor<3x2xf32> to tensor<3x2xf16>
  %h = qopt.linear %xh, %wh {weight_name = "layers.0.h_proj.weight"} : (tensor<3x2xf16>, tensor<2x2xf16>) -> tensor<3x2xf16>
  return %k2 : tensor<3x2xf32>
}

func.func @conv(%img: tensor<1x2x4x4xf32>, %f: tensor<2x2x1x1xf32>, %init: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %c = linalg.conv_2d_nchw_fchw ins(%img, %f : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%init : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> loc("layers.0.conv.weight")
  return %c : tensor<1x2x4x4xf32>
}

func.func @other(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %o = qopt.linear %x, %w {weight_name = "layers.1.o_proj.weight"} : (tensor<3x2xf32>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %o : tensor<3x2xf32>
}
