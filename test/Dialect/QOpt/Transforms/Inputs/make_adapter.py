"""Writes a PEFT adapter folder for the lit tests, in plain Python:
adapter_config.json and adapter_model.safetensors (F32 or F16).

    make_adapter.py DIR CONFIG_JSON MODULE=RxIN:OUTxR[:f16] ...
        [--extra=KEY] [--extra-i32=KEY] [--drop=KEY]

--extra adds a 1-D f32 tensor KEY, --extra-i32 a 1x2 int32 one, --drop
leaves tensor KEY out.

A[j, i] = (j + 1) * 0.5 + i * 0.25 and B[o, j] = (o + 1) - j, so the lit
checks can spell merged weights out.
"""
import json
import os
import struct
import sys


def matrices(r, n_in, n_out):
    a = [[(j + 1) * 0.5 + i * 0.25 for i in range(n_in)] for j in range(r)]
    b = [[float(o + 1 - j) for j in range(r)] for o in range(n_out)]
    return a, b


def main(argv):
    out, config = argv[0], json.loads(argv[1])
    specs = [s for s in argv[2:] if not s.startswith("--")]
    extra = [s[len("--extra="):] for s in argv[2:] if s.startswith("--extra=")]
    extra_i32 = [s[len("--extra-i32="):] for s in argv[2:]
                 if s.startswith("--extra-i32=")]
    drop = {s[len("--drop="):] for s in argv[2:] if s.startswith("--drop=")}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f)
    header, data = {}, b""
    tensors = []
    for spec in specs:
        module, shapes = spec.split("=")
        parts = shapes.split(":")
        r, n_in = map(int, parts[0].split("x"))
        n_out, _ = map(int, parts[1].split("x"))
        dtype = parts[2] if len(parts) > 2 else "f32"
        a, b = matrices(r, n_in, n_out)
        key = f"base_model.model.{module}"
        tensors.append((key + ".lora_A.weight", [r, n_in], a, dtype))
        tensors.append((key + ".lora_B.weight", [n_out, r], b, dtype))
    for name in extra:
        tensors.append((name, [1], [[0.0]], "f32"))
    for name in extra_i32:
        tensors.append((name, [1, 2], [[1, 2]], "i32"))
    for name, shape, rows, dtype in tensors:
        if name in drop:
            continue
        flat = [v for row in rows for v in row]
        code = {"f16": "e", "f32": "f", "i32": "i"}[dtype]
        raw = struct.pack(f"<{len(flat)}{code}", *flat)
        header[name] = {"dtype": dtype.upper(),
                        "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    with open(os.path.join(out, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


if __name__ == "__main__":
    main(sys.argv[1:])
