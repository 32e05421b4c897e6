#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors into fuzz/corpus/: a few small
valid safetensors files (every dtype loom converts, metadata, empty and rank-0
tensors) and invalid ones (each breaking one rule of the format).
Rerun from the repository root:  python3 fuzz/make_corpus.py
"""
import json
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def file_bytes(header, data=b"", pad=True):
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    os.makedirs(CORPUS, exist_ok=True)
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
    f64 = struct.pack("<2d", 1.0 / 3.0, -1e300)
    i64 = struct.pack("<3q", 0, -1, 2**62)
    f16 = struct.pack("<4H", 0x3C00, 0x0001, 0x7C00, 0x7E00)
    bf16 = struct.pack("<2H", 0x3F80, 0xFF80)
    seeds = {
        "valid_f32": file_bytes({"w": entry("F32", [2, 2], 0, 16)}, f32),
        "valid_mixed": file_bytes({
            "d": entry("F64", [2], 0, 16), "i": entry("I64", [3], 16, 40), "w": entry("F32", [4], 40, 56),
            "h": entry("F16", [2, 2], 56, 64), "b": entry("BF16", [2], 64, 68), "s": entry("F32", [], 68, 72),
            "e": entry("F32", [0, 3], 72, 72), "__metadata__": {"format": "pt", "step": "7"},
        }, f64 + i64 + f32 + f16 + bf16 + struct.pack("<f", 9.0)),
        "valid_empty": file_bytes({}),
        "valid_u8_rank5": file_bytes({"x": entry("U8", [1, 1, 1, 1, 2], 0, 2)}, b"\x01\x02"),
        "bad_short": b"\x02\x00\x00",
        "bad_length": struct.pack("<Q", 1000) + b"{}",
        "bad_json": file_bytes(b'{"w": {"dtype": "F32",', b""),
        "bad_not_object": file_bytes(b"[1, 2, 3]"),
        "bad_overlap": file_bytes({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, f32[:12]),
        "bad_gap": file_bytes({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, f32[:12]),
        "bad_size": file_bytes({"a": entry("F32", [3], 0, 16)}, f32),
        "bad_duplicate": file_bytes(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                    b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32[:4]),
        "bad_metadata": file_bytes({"__metadata__": {"k": 1}}),
        "bad_overflow": file_bytes({"a": entry("F64", [4611686018427387904], 0, 8)}, f64[:8]),
        "bad_trailing": file_bytes({"a": entry("F32", [1], 0, 4)}, f32),
    }
    for name, data in seeds.items():
        with open(os.path.join(CORPUS, name + ".safetensors"), "wb") as out:
            out.write(data)
    print("wrote", len(seeds), "seeds to", CORPUS)


if __name__ == "__main__":
    main()
