#include "output_name.h"

#include <functional>

namespace nalasr::cli {
namespace {

// Walks the pattern, calling `literal` for plain text and `placeholder` for each {key}; false on a syntax error.
bool walk_pattern(const std::string& pattern, const std::function<void(const std::string&)>& literal,
                  const std::function<bool(const std::string&)>& placeholder) {
    std::size_t at = 0;
    while (at < pattern.size()) {
        const std::size_t open = pattern.find('{', at);
        if (open == std::string::npos) {
            literal(pattern.substr(at));
            break;
        }
        literal(pattern.substr(at, open - at));
        const std::size_t close = pattern.find('}', open);
        if (close == std::string::npos || !placeholder(pattern.substr(open + 1, close - open - 1))) return false;
        at = close + 1;
    }
    return true;
}

bool is_placeholder(const std::string& key) { return key == "name" || key == "scale" || key == "ext"; }

}  // namespace

std::string check_name_pattern(const std::string& pattern) {
    if (pattern.empty()) return "the --name pattern is empty";
    if (pattern.find('/') != std::string::npos || pattern.find('\0') != std::string::npos)
        return "the --name pattern '" + pattern + "' contains a '/'; it names a file, not a folder";
    std::string unknown;
    const bool parsed = walk_pattern(pattern, [](const std::string&) {}, [&](const std::string& key) {
        if (!is_placeholder(key)) unknown = key;
        return is_placeholder(key);
    });
    if (!unknown.empty()) return "unknown placeholder {" + unknown + "} in --name (use {name}, {scale}, {ext})";
    if (!parsed) return "unclosed '{' in the --name pattern '" + pattern + "'";
    if (pattern == "." || pattern == "..") return "the --name pattern '" + pattern + "' is not a file name";
    return {};
}

std::string expand_name_pattern(const std::string& pattern, const std::string& stem, const std::string& scale,
                                const std::string& extension) {
    std::string out;
    walk_pattern(pattern, [&](const std::string& text) { out += text; }, [&](const std::string& key) {
        out += key == "name" ? stem : key == "scale" ? scale : extension;
        return true;
    });
    return out;
}

}  // namespace nalasr::cli
