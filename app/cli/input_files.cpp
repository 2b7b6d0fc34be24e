#include "input_files.h"

#include <algorithm>
#include <charconv>

#include "nalasr/image.h"

namespace nalasr::cli {
namespace fs = std::filesystem;
namespace {

bool has_image_extension(const fs::path& path) {
    return image_format_from_extension(path.extension().string()) != ImageFormat::Unknown;
}

bool is_hidden(const fs::path& path) {
    const std::string name = path.filename().string();
    return !name.empty() && name[0] == '.';
}

bool is_same_folder(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return !b.empty() && fs::equivalent(a, b, ec);
}

void list_folder(const fs::path& folder, bool recursive, const fs::path& exclude, InputListing* listing) {
    std::vector<InputFile> found;
    std::error_code ec;
    const auto options = fs::directory_options::skip_permission_denied;
    fs::recursive_directory_iterator it(folder, options, ec), end;
    if (ec) {
        listing->warnings.push_back(folder.string() + ": cannot read the folder (" + ec.message() + ")");
        return;
    }
    for (; it != end; it.increment(ec)) {
        if (ec) {
            listing->warnings.push_back(folder.string() + ": cannot read all of the folder (" + ec.message() + ")");
            break;
        }
        const fs::path& path = it->path();
        if (it->is_directory(ec)) {
            if (!recursive || is_hidden(path) || is_same_folder(path, exclude)) it.disable_recursion_pending();
            continue;
        }
        if (is_hidden(path) || !it->is_regular_file(ec) || !has_image_extension(path)) continue;
        found.push_back({path, path.parent_path().lexically_relative(folder)});
    }
    // By path, so that the order does not depend on the file system's directory order.
    std::sort(found.begin(), found.end(), [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
    for (InputFile& file : found)
        if (file.subfolder == ".") file.subfolder.clear();
    listing->files.insert(listing->files.end(), found.begin(), found.end());
}

bool parse_int(const std::string& text, int* out) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

InputListing list_inputs(const std::vector<fs::path>& inputs, bool recursive, const fs::path& exclude) {
    InputListing listing;
    std::error_code ec;
    for (const fs::path& input : inputs) {
        if (fs::is_directory(input, ec)) {
            listing.any_folder = true;
            list_folder(input, recursive, exclude, &listing);
        } else {
            listing.files.push_back({input, {}});  // a missing or unreadable file is reported when it is loaded
        }
    }
    return listing;
}

std::string parse_shard(const std::string& text, Shard* out) {
    const std::size_t slash = text.find('/');
    Shard shard;
    if (slash == std::string::npos || !parse_int(text.substr(0, slash), &shard.index) ||
        !parse_int(text.substr(slash + 1), &shard.count))
        return "--shard wants I/N, e.g. 3/8 (part 3 of 8), not '" + text + "'";
    if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
        return "--shard " + text + ": I must be between 1 and N (parts are numbered from 1)";
    *out = shard;
    return {};
}

std::vector<InputFile> select_shard(const std::vector<InputFile>& files, const Shard& shard) {
    std::vector<InputFile> selected;
    for (std::size_t i = std::size_t(shard.index - 1); i < files.size(); i += std::size_t(shard.count))
        selected.push_back(files[i]);
    return selected;
}

}  // namespace nalasr::cli
