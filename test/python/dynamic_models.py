"""Small transformer graphs written with onnx.helper that use the
shape computations torch.onnx writes for Llama, Qwen2, Mistral, GPT-2, BERT
and ViT (dynamo and legacy exporters): Shape -> Gather -> Unsqueeze ->
Concat -> Reshape/Expand, Range of the sequence length, Slice of position
ids and causal-mask buffers up to the sequence length, ConstantOfShape,
Equal/Where on shapes, attention masks through Unsqueeze/Cast/Sub/Mul.
Batch and sequence are symbolic dims; random weights, fixed seed."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, HEAD_DIM, VOCAB, FFN, MAX_POS = 32, 4, 8, 61, 48, 64
I64_MAX = np.iinfo(np.int64).max
F32_MIN = float(np.finfo(np.float32).min)


def configure(hidden=32, heads=4, ffn=48, max_pos=64):
    """Sets the model sizes (benchmarks use larger ones than the tests)."""
    global HIDDEN, HEADS, HEAD_DIM, FFN, MAX_POS
    HIDDEN, HEADS, HEAD_DIM, FFN = hidden, heads, hidden // heads, ffn
    MAX_POS = max_pos


class Graph:
    """Accumulates nodes and initializers; names are made unique."""

    def __init__(self, seed):
        self.nodes, self.inits, self.rng, self.count = [], [], \
            np.random.default_rng(seed), 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, arr, base="c"):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def ints(self, *vals):
        return self.const(np.array(vals, np.int64), "ints")

    def weight(self, *shape, scale=None):
        scale = scale or 1.0 / np.sqrt(shape[0])
        return self.const((self.rng.standard_normal(shape) * scale).astype(
            np.float32), "w")

    def op(self, op_type, *inputs, outputs=1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.name("node_" + op_type),
                                           **attrs))
        return outs[0] if outputs == 1 else outs

    # Shape helpers as the exporters write them.
    def dim(self, x, i):
        """Gather(Shape(x), i) as a 0-D int64 (x.size(i))."""
        return self.op("Gather", self.op("Shape", x), self.const(
            np.array(i, np.int64), "idx"), axis=0)

    def dims1(self, x, i):
        """Unsqueeze(Gather(Shape(x), i), [0]): a 1-element shape piece."""
        return self.op("Unsqueeze", self.dim(x, i), self.ints(0))

    def linear(self, x, k, n, bias=False):
        y = self.op("MatMul", x, self.weight(k, n))
        if bias:
            y = self.op("Add", y, self.const(
                (self.rng.standard_normal(n) * 0.1).astype(np.float32), "b"))
        return y

    def layer_norm(self, x):
        return self.op("LayerNormalization", x,
                       self.const(np.ones(HIDDEN, np.float32) +
                                  0.1 * self.rng.standard_normal(HIDDEN)
                                  .astype(np.float32), "g"),
                       self.const(0.1 * self.rng.standard_normal(HIDDEN)
                                  .astype(np.float32), "beta"),
                       axis=-1, epsilon=1e-5)

    def rms_norm(self, x):
        var = self.op("ReduceMean", self.op("Pow", x, self.const(
            np.array(2.0, np.float32))), self.ints(-1), keepdims=1)
        inv = self.op("Reciprocal", self.op("Sqrt", self.op(
            "Add", var, self.const(np.array(1e-6, np.float32)))))
        return self.op("Mul", self.op("Mul", x, inv), self.const(
            (1 + 0.1 * self.rng.standard_normal(HIDDEN)).astype(np.float32),
            "g"))

    def split_heads(self, x, src, heads):
        """view(B, S, heads, HEAD_DIM).transpose(1, 2) with B, S read from
        `src`'s shape."""
        shape = self.op("Concat", self.dims1(src, 0), self.dims1(src, 1),
                        self.ints(heads), self.ints(HEAD_DIM), axis=0)
        return self.op("Transpose", self.op("Reshape", x, shape),
                       perm=[0, 2, 1, 3])

    def merge_heads(self, x, src):
        """transpose(1, 2).reshape(B, S, -1)."""
        t = self.op("Transpose", x, perm=[0, 2, 1, 3])
        shape = self.op("Concat", self.dims1(src, 0), self.dims1(src, 1),
                        self.ints(-1), axis=0)
        return self.op("Reshape", t, shape)

    def attention(self, q, k, v, mask=None):
        scale = self.const(np.array(1 / np.sqrt(HEAD_DIM), np.float32))
        s = self.op("Mul", self.op("MatMul", q, self.op(
            "Transpose", k, perm=[0, 1, 3, 2])), scale)
        if mask is not None:
            s = self.op("Add", s, mask)
        return self.op("MatMul", self.op("Softmax", s, axis=-1), v)

    def model(self, inputs, outputs, opset=18):
        graph = helper.make_graph(self.nodes, "g", inputs, outputs,
                                  self.inits)
        return helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", opset)], ir_version=8)


def tokens_input(name="input_ids"):
    return helper.make_tensor_value_info(name, TensorProto.INT64,
                                         ["batch", "sequence"])


def float_output(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def decoder(kind, seed=0):
    """Llama (RoPE, RMSNorm, SwiGLU, causal mask), Qwen2 (+ q/k/v biases,
    grouped KV heads), Mistral (+ sliding window; the legacy exporter's
    ConstantOfShape/Equal/Where around Expand)."""
    g = Graph(seed)
    kv_heads = HEADS if kind == "llama" else 2
    ids = "input_ids"
    h = g.op("Gather", g.weight(VOCAB, HIDDEN, scale=1.0), ids, axis=0)
    seq = g.dim(ids, 1)
    # positions = arange(seq) (node_arange)
    pos = g.op("Range", g.const(np.array(0, np.int64)), seq,
               g.const(np.array(1, np.int64)))
    # RoPE: cos/sin of pos * inv_freq, [1, 1, S, HEAD_DIM]
    inv_freq = g.const((1.0 / (10000 ** (np.arange(0, HEAD_DIM, 2) /
                                          HEAD_DIM))).astype(np.float32))
    posf = g.op("Cast", g.op("Unsqueeze", pos, g.ints(1)), to=TensorProto.FLOAT)
    freqs = g.op("Mul", posf, inv_freq)
    emb = g.op("Concat", freqs, freqs, axis=-1)
    cos = g.op("Unsqueeze", g.op("Cos", emb), g.ints(0, 1))
    sin = g.op("Unsqueeze", g.op("Sin", emb), g.ints(0, 1))
    # causal mask: arange(S)[None, :] > arange(S)[:, None]
    row = g.op("Unsqueeze", pos, g.ints(1))
    col = g.op("Unsqueeze", pos, g.ints(0))
    masked = g.op("Greater", col, row)
    if kind == "mistral":
        window = g.const(np.array(3, np.int64))
        masked = g.op("Or", masked, g.op("GreaterOrEqual",
                                          g.op("Sub", row, col), window))
    mask = g.op("Where", masked, g.const(np.array(F32_MIN, np.float32)),
                g.const(np.array(0.0, np.float32)))
    mshape = g.op("Concat", g.dims1(ids, 0), g.ints(1), g.dims1(ids, 1),
                  g.dims1(ids, 1), axis=0)
    mask = g.op("Expand", g.op("Unsqueeze", mask, g.ints(0, 1)), mshape)

    x = g.rms_norm(h)
    bias = kind == "qwen2"
    q = g.split_heads(g.linear(x, HIDDEN, HIDDEN, bias), ids, HEADS)
    k = g.split_heads(g.linear(x, HIDDEN, kv_heads * HEAD_DIM, bias), ids,
                      kv_heads)
    v = g.split_heads(g.linear(x, HIDDEN, kv_heads * HEAD_DIM, bias), ids,
                      kv_heads)

    def rotate(t):
        half = HEAD_DIM // 2
        a = g.op("Slice", t, g.ints(0), g.ints(half), g.ints(-1))
        b = g.op("Slice", t, g.ints(half), g.ints(I64_MAX), g.ints(-1))
        rot = g.op("Concat", g.op("Neg", b), a, axis=-1)
        return g.op("Add", g.op("Mul", t, cos), g.op("Mul", rot, sin))

    q, k = rotate(q), rotate(k)
    if kv_heads != HEADS:
        # repeat_kv: [B, kv, S, D] -> [B, kv, rep, S, D] -> [B, H, S, D]
        rep = HEADS // kv_heads

        def repeat_kv(t):
            t = g.op("Unsqueeze", t, g.ints(2))
            shape = g.op("Concat", g.dims1(ids, 0), g.ints(kv_heads),
                         g.ints(rep), g.dims1(ids, 1), g.ints(HEAD_DIM),
                         axis=0)
            if kind == "mistral":
                # legacy: Where(Equal(shape, -1), 1, shape)
                ones = g.op("ConstantOfShape", g.ints(5),
                            value=helper.make_tensor("v", TensorProto.INT64,
                                                     [1], [1]))
                neg = g.op("Mul", ones, g.const(np.array(-1, np.int64)))
                shape = g.op("Where", g.op("Equal", shape, neg), ones, shape)
            t = g.op("Expand", t, shape)
            out = g.op("Concat", g.dims1(ids, 0), g.ints(HEADS),
                       g.dims1(ids, 1), g.ints(HEAD_DIM), axis=0)
            return g.op("Reshape", t, out)

        k, v = repeat_kv(k), repeat_kv(v)
    a = g.merge_heads(g.attention(q, k, v, mask), ids)
    h = g.op("Add", h, g.linear(a, HIDDEN, HIDDEN))
    x = g.rms_norm(h)
    gate = g.linear(x, HIDDEN, FFN)
    silu = g.op("Mul", gate, g.op("Sigmoid", gate))
    h = g.op("Add", h, g.linear(g.op("Mul", silu, g.linear(x, HIDDEN, FFN)),
                                FFN, HIDDEN))
    logits = g.op("MatMul", g.rms_norm(h), g.weight(HIDDEN, VOCAB))
    g.nodes[-1].output[0] = "logits"
    return g.model([tokens_input()],
                   [float_output("logits", ["batch", "sequence", VOCAB])])


def gpt2(seed=1):
    """GPT-2: positions from Range, c_attn + Split, views through
    Shape/Gather/Concat, the causal mask sliced from a [1, 1, P, P] buffer at
    [S - S : S, :S], new GELU with Pow(x, 3)."""
    g = Graph(seed)
    ids = "input_ids"
    seq = g.dim(ids, 1)
    pos = g.op("Unsqueeze", g.op("Range", g.const(np.array(0, np.int64)), seq,
                                 g.const(np.array(1, np.int64))), g.ints(0))
    h = g.op("Add", g.op("Gather", g.weight(VOCAB, HIDDEN, scale=1.0), ids),
             g.op("Gather", g.weight(MAX_POS, HIDDEN, scale=1.0), pos))
    x = g.layer_norm(h)
    qkv = g.linear(x, HIDDEN, 3 * HIDDEN, bias=True)
    q, k, v = g.op("Split", qkv, g.ints(HIDDEN, HIDDEN, HIDDEN), axis=2,
                   outputs=3)
    q, k, v = (g.split_heads(t, t, HEADS) for t in (q, k, v))
    # bias[:, :, k_len - q_len : k_len, :k_len]
    buf = g.const(np.tril(np.ones((MAX_POS, MAX_POS), bool))[None, None],
                  "bias")
    qlen, klen = g.dims1(q, 2), g.dims1(k, 2)
    causal = g.op("Slice", buf, g.op("Sub", klen, qlen), klen, g.ints(2))
    causal = g.op("Slice", causal, g.ints(0), klen, g.ints(3))
    scale = g.op("Cast", g.op("Sqrt", g.op("Cast", g.dim(v, 3),
                                          to=TensorProto.FLOAT)),
                 to=TensorProto.FLOAT)
    s = g.op("Div", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])),
             scale)
    s = g.op("Where", causal, s, g.const(np.array(F32_MIN, np.float32)))
    a = g.op("MatMul", g.op("Softmax", s, axis=-1), v)
    a = g.op("Transpose", a, perm=[0, 2, 1, 3])
    shape = g.op("Concat", g.op("Slice", g.op("Shape", a), g.ints(0),
                                g.ints(-2), g.ints(0)), g.ints(HIDDEN), axis=0)
    h = g.op("Add", h, g.linear(g.op("Reshape", a, shape), HIDDEN, HIDDEN,
                                bias=True))
    x = g.linear(g.layer_norm(h), HIDDEN, FFN, bias=True)
    inner = g.op("Mul", g.const(np.array(np.sqrt(2 / np.pi), np.float32)),
                 g.op("Add", x, g.op("Mul", g.const(np.array(0.044715,
                                                             np.float32)),
                                     g.op("Pow", x, g.const(np.array(
                                         3.0, np.float32))))))
    gelu = g.op("Mul", g.op("Mul", g.const(np.array(0.5, np.float32)), x),
                g.op("Add", g.const(np.array(1.0, np.float32)),
                     g.op("Tanh", inner)))
    h = g.op("Add", h, g.linear(gelu, FFN, HIDDEN, bias=True))
    out = g.op("Identity", g.layer_norm(h))
    g.nodes[-1].output[0] = "last_hidden_state"
    return g.model([tokens_input()], [float_output(
        "last_hidden_state", ["batch", "sequence", HIDDEN])])


def bert(seed=2):
    """BERT: position_ids[:, :S] (Slice of a buffer up to a run-time end),
    token types from ConstantOfShape(Shape(input_ids)), the extended
    attention mask (1 - mask[:, None, None, :].float()) * min, erf GELU."""
    g = Graph(seed)
    ids = "input_ids"
    pos_ids = g.const(np.arange(MAX_POS, dtype=np.int64)[None], "position_ids")
    seq1 = g.dims1(ids, 1)
    pos = g.op("Slice", pos_ids, g.ints(0), seq1, g.ints(1))  # node_slice_1
    types = g.op("ConstantOfShape", g.op("Shape", ids),
                 value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
    h = g.op("Add", g.op("Add", g.op("Gather", g.weight(VOCAB, HIDDEN,
                                                        scale=1.0), ids),
                         g.op("Gather", g.weight(2, HIDDEN, scale=1.0),
                              types)),
             g.op("Gather", g.weight(MAX_POS, HIDDEN, scale=1.0), pos))
    h = g.layer_norm(h)
    m = g.op("Cast", g.op("Unsqueeze", "attention_mask", g.ints(1, 2)),
             to=TensorProto.FLOAT)
    m = g.op("Mul", g.op("Sub", g.const(np.array(1.0, np.float32)), m),
             g.const(np.array(F32_MIN, np.float32)))
    q, k, v = (g.split_heads(g.linear(h, HIDDEN, HIDDEN, bias=True), ids,
                             HEADS) for _ in range(3))
    a = g.merge_heads(g.attention(q, k, v, m), ids)
    h = g.layer_norm(g.op("Add", h, g.linear(a, HIDDEN, HIDDEN, bias=True)))
    x = g.linear(h, HIDDEN, FFN, bias=True)
    gelu = g.op("Mul", g.op("Mul", x, g.const(np.array(0.5, np.float32))),
                g.op("Add", g.op("Erf", g.op("Div", x, g.const(np.array(
                    np.sqrt(2.0), np.float32)))), g.const(np.array(
                        1.0, np.float32))))
    h = g.layer_norm(g.op("Add", h, g.linear(gelu, FFN, HIDDEN, bias=True)))
    g.nodes[-1].output[0] = "last_hidden_state"
    return g.model([tokens_input(), tokens_input("attention_mask")],
                   [float_output("last_hidden_state",
                                 ["batch", "sequence", HIDDEN])])


def vit(seed=3):
    """ViT: patch Conv, flatten(2).transpose(1, 2) through a Reshape of
    Shape pieces, the cls token expanded over the batch (node_expand),
    Concat, position embeddings, pre-norm attention and MLP."""
    g = Graph(seed)
    px = "pixel_values"
    patches = g.op("Conv", px, g.weight(HIDDEN, 3, 4, 4, scale=0.1),
                   g.const(np.zeros(HIDDEN, np.float32)), kernel_shape=[4, 4],
                   strides=[4, 4])
    shape = g.op("Concat", g.dims1(patches, 0), g.dims1(patches, 1),
                 g.ints(-1), axis=0)
    patches = g.op("Transpose", g.op("Reshape", patches, shape), perm=[0, 2, 1])
    cls = g.weight(1, 1, HIDDEN, scale=1.0)
    cshape = g.op("Concat", g.dims1(px, 0), g.ints(-1), g.ints(-1), axis=0)
    # expand(B, -1, -1): -1 becomes 1 through Where(Equal(shape, -1), 1, shape)
    ones = g.op("ConstantOfShape", g.ints(3), value=helper.make_tensor(
        "v", TensorProto.INT64, [1], [1]))
    cshape = g.op("Where", g.op("Equal", cshape, g.const(np.array(
        -1, np.int64))), ones, cshape)
    cls = g.op("Expand", cls, cshape)  # node_expand
    h = g.op("Add", g.op("Concat", cls, patches, axis=1),
             g.weight(1, 17, HIDDEN, scale=0.5))
    x = g.layer_norm(h)
    q, k, v = (g.split_heads(g.linear(x, HIDDEN, HIDDEN, bias=True), h, HEADS)
               for _ in range(3))
    h = g.op("Add", h, g.linear(g.merge_heads(g.attention(q, k, v), h),
                                HIDDEN, HIDDEN, bias=True))
    x = g.linear(g.layer_norm(h), HIDDEN, FFN, bias=True)
    gelu = g.op("Mul", g.op("Mul", x, g.const(np.array(0.5, np.float32))),
                g.op("Add", g.op("Erf", g.op("Div", x, g.const(np.array(
                    np.sqrt(2.0), np.float32)))), g.const(np.array(
                        1.0, np.float32))))
    h = g.op("Add", h, g.linear(gelu, FFN, HIDDEN, bias=True))
    g.op("Identity", g.layer_norm(h))
    g.nodes[-1].output[0] = "last_hidden_state"
    return g.model([helper.make_tensor_value_info(
        px, TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [float_output("last_hidden_state", ["batch", 17, HIDDEN])])


MODELS = {
    "llama": lambda: decoder("llama"),
    "qwen2": lambda: decoder("qwen2", seed=4),
    "mistral": lambda: decoder("mistral", seed=5),
    "gpt2": gpt2,
    "bert": bert,
    "vit": vit,
}


def inputs_for(name, batch, seq, seed=0):
    """Random inputs of model `name` at this batch and sequence length (ViT
    has a fixed sequence: 16 patches + cls)."""
    rng = np.random.default_rng(seed + 100 * batch + seq)
    if name == "vit":
        return {"pixel_values": rng.standard_normal(
            (batch, 3, 16, 16)).astype(np.float32)}
    ids = rng.integers(0, VOCAB, (batch, seq), dtype=np.int64)
    if name != "bert":
        return {"input_ids": ids}
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq // 2 + 1:] = 0  # padding at the end of the first row
    return {"input_ids": ids, "attention_mask": mask}
