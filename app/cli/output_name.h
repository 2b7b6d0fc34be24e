// Output file names from a pattern: `--name '{name}_x{scale}'` → photo_x4.jpg. The extension is added from the
// output format, so a pattern names the stem only.
#pragma once

#include <string>

namespace nalasr::cli {

constexpr char kDefaultNamePattern[] = "{name}_x{scale}";

// An empty string when the pattern is usable, else why not (unknown placeholder, a '/' in it, ...).
// Placeholders: {name} the input's stem, {scale} the scale, {ext} the input's extension without the dot.
std::string check_name_pattern(const std::string& pattern);

// The stem for one input (the pattern must have passed check_name_pattern).
std::string expand_name_pattern(const std::string& pattern, const std::string& stem, const std::string& scale,
                                const std::string& extension);

}  // namespace nalasr::cli
