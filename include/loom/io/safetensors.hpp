// loom/io/safetensors.hpp — reading and writing tensors in the safetensors format
// (https://github.com/huggingface/safetensors), the format PyTorch, JAX and
// Hugging Face tools use for checkpoints that are safe to open.
//
// Layout of a file:
//   bytes 0..7      N, the header length: an unsigned 64-bit little-endian integer
//   bytes 8..8+N    the header: a JSON object (UTF-8), padded with spaces
//                     { "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
//                       ...,
//                       "__metadata__": {"<key>": "<string value>", ...} }
//   bytes 8+N..end  the data buffer: every tensor's elements, row-major and
//                   little-endian, at [begin, end) relative to the buffer start
//
// Reading (File::load / File::parse) checks the whole file before anything is
// used, so that a damaged or hostile file gives a loom::Error that names the
// file and the problem, never a crash or an out-of-bounds read:
//   - the file holds the 8 length bytes, and N is at most 100 MB and fits in the file;
//   - the header is JSON, an object, with no duplicate keys;
//   - each tensor entry is an object with exactly dtype (a known dtype name),
//     shape (non-negative integers whose product, and its size in bytes, do not
//     overflow) and data_offsets ([begin, end], begin <= end <= buffer size,
//     end - begin = elements · dtype size);
//   - the tensors cover the data buffer exactly: sorted by offset, each starts
//     where the previous one ends (no overlap, no gap), the first at 0 and the
//     last ending at the end of the file (no trailing bytes);
//   - __metadata__, if present, maps strings to strings.
// Then tensor<float>/tensor<double> convert F16, BF16, F32 and F64 data, and
// int64() reads I64 data; other dtypes are listed and their raw bytes readable,
// but not converted.
//
// Writing (Writer) collects named tensors (copied when added) and a string map
// of metadata, and save() replaces the file atomically: it writes
// "<path>.tmp.<pid>.<n>", flushes and syncs it, then renames it over <path>; on
// any failure the temporary file is removed and loom::Error thrown, so <path>
// is either the old file or the complete new one. The header is padded with
// spaces to a multiple of 8 bytes, and tensors are laid out by decreasing
// element size (then by name), so every tensor is aligned to its element size.
//
// Bytes are assembled with shifts, so the code is independent of the host's
// byte order.
//
// The code is in three headers: safetensors_format.hpp (dtypes, byte order,
// conversions), safetensors_reader.hpp (File) and safetensors_writer.hpp
// (Writer). Include this one.
#pragma once

#include "loom/io/safetensors_format.hpp"
#include "loom/io/safetensors_reader.hpp"
#include "loom/io/safetensors_writer.hpp"
