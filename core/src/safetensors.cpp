// safetensors reader and writer; see safetensors.h.
#include "safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>

namespace nalasr::safetensors {
namespace {

// A JSON header larger than this is not a model file (safetensors itself caps it at 100 MB).
constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

std::size_t dtype_size(const std::string& dtype) {
    static const std::map<std::string, std::size_t> sizes = {
        {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},     {"I16", 2}, {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},   {"BOOL", 1},    {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

std::uint64_t read_le64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;  // ±0
    } else {  // subnormal: renormalise
        exponent = 113;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(bits);
}

Status corrupt(const std::string& name, const std::string& what) {
    return {StatusCode::CorruptData, name + ": " + what};
}

// Validates one tensor's header entry against the data section.
Status parse_entry(const std::string& file, const std::string& tensor, const nlohmann::json& j,
                   const std::uint8_t* data, std::uint64_t data_size, Entry* out) {
    const std::string where = "tensor '" + tensor + "'";
    if (!j.is_object()) return corrupt(file, where + " is not a JSON object in the header");
    if (!j.contains("dtype") || !j["dtype"].is_string()) return corrupt(file, where + " has no dtype");
    if (!j.contains("shape") || !j["shape"].is_array()) return corrupt(file, where + " has no shape");
    if (!j.contains("data_offsets") || !j["data_offsets"].is_array() || j["data_offsets"].size() != 2)
        return corrupt(file, where + " has no valid data_offsets");
    out->dtype = j["dtype"].get<std::string>();
    const std::size_t elem = dtype_size(out->dtype);
    if (elem == 0) return corrupt(file, where + " has an unknown dtype '" + out->dtype + "'");

    std::uint64_t count = 1;
    out->shape.clear();
    for (const auto& dim : j["shape"]) {
        if (!dim.is_number_unsigned()) return corrupt(file, where + " has a shape entry that is not a size: " + dim.dump());
        const std::uint64_t n = dim.get<std::uint64_t>();
        if (n > std::uint64_t(std::numeric_limits<std::int64_t>::max()) || (n != 0 && count > UINT64_MAX / n / elem))
            return corrupt(file, where + " has an impossibly large shape");
        count *= n;
        out->shape.push_back(std::int64_t(n));
    }
    const auto& offsets = j["data_offsets"];
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
        return corrupt(file, where + " has data_offsets that are not sizes");
    const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
    if (begin > end || end > data_size)
        return corrupt(file, where + " has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                 "] outside the " + std::to_string(data_size) + "-byte data section (truncated file?)");
    if (end - begin != count * elem)
        return corrupt(file, where + " has " + std::to_string(end - begin) + " bytes of data but dtype " + out->dtype +
                                 " and shape " + shape_string(out->shape) + " need " + std::to_string(count * elem));
    out->data = data + begin;
    out->bytes = std::size_t(end - begin);
    return Status::ok();
}

}  // namespace

std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

Status parse(const std::uint8_t* bytes, std::size_t size, const std::string& name, Parsed* out) {
    if (size < 8) return corrupt(name, "file is " + std::to_string(size) + " bytes, too short to be safetensors");
    const std::uint64_t header_size = read_le64(bytes);
    if (header_size > size - 8)
        return corrupt(name, "header length " + std::to_string(header_size) + " is larger than the file (" +
                                 std::to_string(size) + " bytes): truncated or not a safetensors file");
    if (header_size > kMaxHeaderBytes) return corrupt(name, "header length " + std::to_string(header_size) + " is absurd");

    const char* header = reinterpret_cast<const char*>(bytes + 8);
    nlohmann::json j = nlohmann::json::parse(header, header + header_size, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return corrupt(name, "header is not a JSON object (not a safetensors file?)");

    const std::uint8_t* data = bytes + 8 + header_size;
    const std::uint64_t data_size = size - 8 - header_size;
    Parsed parsed;
    for (const auto& [key, value] : j.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) return corrupt(name, "__metadata__ is not a JSON object");
            for (const auto& [mkey, mvalue] : value.items()) {
                if (!mvalue.is_string()) return corrupt(name, "__metadata__ entry '" + mkey + "' is not a string");
                parsed.metadata[mkey] = mvalue.get<std::string>();
            }
            continue;
        }
        Entry entry;
        if (Status st = parse_entry(name, key, value, data, data_size, &entry); !st) return st;
        parsed.tensors.emplace(key, std::move(entry));
    }

    // Tensors must not share bytes.
    std::vector<std::pair<const Entry*, const std::string*>> by_offset;
    for (const auto& [key, entry] : parsed.tensors)
        if (entry.bytes) by_offset.emplace_back(&entry, &key);
    std::sort(by_offset.begin(), by_offset.end(), [](auto a, auto b) { return a.first->data < b.first->data; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
        const Entry& prev = *by_offset[i - 1].first;
        if (by_offset[i].first->data < prev.data + prev.bytes)
            return corrupt(name, "tensors '" + *by_offset[i - 1].second + "' and '" + *by_offset[i].second +
                                     "' overlap in the data section");
    }
    *out = std::move(parsed);
    return Status::ok();
}

bool is_float_dtype(const std::string& dtype) { return dtype == "F32" || dtype == "F16" || dtype == "BF16"; }

std::vector<float> to_float(const Entry& entry) {
    const std::size_t elem = dtype_size(entry.dtype);
    const std::size_t n = elem ? entry.bytes / elem : 0;
    std::vector<float> values(n);
    const std::uint8_t* p = entry.data;
    for (std::size_t i = 0; i < n; ++i, p += elem) {
        if (entry.dtype == "F32") {
            const std::uint32_t bits = std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
                                       std::uint32_t(p[3]) << 24;
            values[i] = std::bit_cast<float>(bits);
        } else if (entry.dtype == "F16") {
            values[i] = half_to_float(std::uint16_t(p[0] | p[1] << 8));
        } else {  // BF16: the top half of a float32
            values[i] = std::bit_cast<float>(std::uint32_t(p[0] | p[1] << 8) << 16);
        }
    }
    return values;
}

Status read_bytes(const std::filesystem::path& path, std::vector<std::uint8_t>* out) {
    std::ifstream file(path, std::ios::binary);
    if (!file) return {StatusCode::IoError, path.string() + ": cannot open for reading"};
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return {StatusCode::IoError, path.string() + ": " + ec.message()};
    out->resize(size);
    if (size && !file.read(reinterpret_cast<char*>(out->data()), std::streamsize(size)))
        return {StatusCode::IoError, path.string() + ": read failed"};
    return Status::ok();
}

Status read_file(const std::filesystem::path& path, std::map<std::string, Tensor>* tensors,
                 std::map<std::string, std::string>* metadata) {
    std::vector<std::uint8_t> bytes;
    if (Status st = read_bytes(path, &bytes); !st) return st;
    Parsed parsed;
    const std::string name = path.filename().string();
    if (Status st = parse(bytes.data(), bytes.size(), name, &parsed); !st) return st;
    tensors->clear();
    for (const auto& [key, entry] : parsed.tensors) {
        if (!is_float_dtype(entry.dtype))
            return {StatusCode::UnsupportedFormat,
                    name + ": tensor '" + key + "' has dtype " + entry.dtype + "; only F32, F16 and BF16 are read"};
        (*tensors)[key] = Tensor{entry.shape, to_float(entry)};
    }
    if (metadata) *metadata = parsed.metadata;
    return Status::ok();
}

Status write_file(const std::filesystem::path& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (const auto& [key, tensor] : tensors) {
        const std::uint64_t bytes = tensor.data.size() * sizeof(float);
        header[key] = {{"dtype", "F32"}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned, as the reference writer does

    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = std::uint8_t(std::uint64_t(text.size()) >> (8 * i));
    const std::filesystem::path temp = path.string() + ".tmp";
    {
        std::ofstream file(temp, std::ios::binary | std::ios::trunc);
        if (!file) return {StatusCode::IoError, path.string() + ": cannot open for writing"};
        file.write(reinterpret_cast<const char*>(length), 8);
        file.write(text.data(), std::streamsize(text.size()));
        static_assert(std::endian::native == std::endian::little, "the writer stores floats in native byte order");
        for (const auto& [key, tensor] : tensors)
            file.write(reinterpret_cast<const char*>(tensor.data.data()),
                       std::streamsize(tensor.data.size() * sizeof(float)));
        file.close();
        if (!file) {
            std::error_code ec;
            std::filesystem::remove(temp, ec);
            return {StatusCode::IoError, path.string() + ": write failed (disk full?)"};
        }
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) {
        std::filesystem::remove(temp, ec);
        return {StatusCode::IoError, path.string() + ": cannot rename the temporary file into place"};
    }
    return Status::ok();
}

}  // namespace nalasr::safetensors
