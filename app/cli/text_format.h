// Human-readable numbers for terminal output: bytes, durations.
#pragma once

#include <cstddef>
#include <string>

namespace nalasr::cli {

std::string format_bytes(std::size_t bytes);  // "812 KiB", "1.27 GiB"
std::string format_duration(double seconds);  // "0.42 s", "1:05", "1:02:03"
// "1500000", "512M", "4G", "2.5GiB" → bytes (K/M/G/T are powers of 1024); false when not a size.
bool parse_byte_size(const std::string& text, std::size_t* bytes);

}  // namespace nalasr::cli
