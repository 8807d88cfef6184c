"""Writes seeds for quant-fuzz-safetensors: a valid file (metadata and F32,
F16, BF16, F8 and integer tensors, header padded with spaces as writers do),
an empty file and a file cut inside its header. Standard library only."""

import json
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


valid = safetensors({
    "base_model.model.q_proj.lora_A.weight":
        ("F32", [2, 3], struct.pack("<6f", 1.0, -2.5, 0.0, 3.5, -0.0, 1e-40)),
    "base_model.model.q_proj.lora_B.weight":
        ("F16", [3, 1], struct.pack("<3H", 0x3C00, 0x7BFF, 0x0001)),
    "scale": ("BF16", [], struct.pack("<H", 0x4049)),
    "fp8": ("F8_E4M3", [2], bytes([0x38, 0x7F])),
    "ids": ("I32", [2], struct.pack("<2i", -7, 42)),
    "empty": ("F32", [0, 4], b""),
}, {"format": "pt", "r": "8", "lora_alpha": "16"})
seeds = {
    "valid.safetensors": valid,
    "minimal.safetensors": safetensors({}),
    "empty.safetensors": b"",
    "truncated.safetensors": valid[:len(valid) // 3],
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
