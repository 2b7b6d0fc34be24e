// safetensors reading and writing (private to core/ and the tests).
//
// Format: 8-byte little-endian header length n, n bytes of JSON {"name": {"dtype", "shape", "data_offsets"}, ...,
// "__metadata__": {string: string}}, then the data. parse() validates everything a malformed or hostile file
// could get wrong (lengths, offsets, overlaps, dtype × shape × bytes) and never reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "nalasr/model.h"
#include "nalasr/status.h"

namespace nalasr::safetensors {

// A tensor entry of a parsed file; `data` points into the parsed bytes.
struct Entry {
    std::string dtype;  // as in the file: "F32", "F16", "BF16", "I64", ...
    std::vector<std::int64_t> shape;
    const std::uint8_t* data = nullptr;
    std::size_t bytes = 0;
};

struct Parsed {
    std::map<std::string, std::string> metadata;
    std::map<std::string, Entry> tensors;
};

// Parses and validates a file's bytes. Corrupt input → CorruptData; `name` prefixes every message.
Status parse(const std::uint8_t* bytes, std::size_t size, const std::string& name, Parsed* out);

// Whether a dtype widens to float (F32, F16, BF16).
bool is_float_dtype(const std::string& dtype);
// Widens a float entry (F32/F16/BF16, little-endian) to float32. Precondition: is_float_dtype(entry.dtype).
std::vector<float> to_float(const Entry& entry);

// Reads a whole file into memory (IoError when it cannot be read).
Status read_bytes(const std::filesystem::path& path, std::vector<std::uint8_t>* out);

// Reads a file's float tensors (widened to float32) and metadata. A non-float tensor → UnsupportedFormat.
Status read_file(const std::filesystem::path& path, std::map<std::string, Tensor>* tensors,
                 std::map<std::string, std::string>* metadata = nullptr);

// Writes tensors as F32 with the given metadata, atomically (temporary file, then rename).
Status write_file(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata);

// "(128, 64)"
std::string shape_string(const std::vector<std::int64_t>& shape);

}  // namespace nalasr::safetensors
