#include "output_folders.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "nalasr/image.h"

namespace nalasr::cli {
namespace fs = std::filesystem;

std::string prepare_output_folder(const fs::path& folder) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) return "cannot create " + folder.string() + " (" + ec.message() + ")";
    // Permission bits do not tell the whole story (root, read-only mounts): try it.
    const fs::path probe = folder / (".nalasr-write-test-" + std::to_string(::getpid()));
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return "cannot write in " + folder.string() + " (" + std::strerror(errno) + ")";
    ::close(fd);
    fs::remove(probe, ec);
    return {};
}

int remove_stale_temp_files(const std::vector<Job>& jobs) {
    std::map<fs::path, std::set<std::string>> outputs_by_folder;
    for (const Job& job : jobs)
        if (!job.output.empty()) outputs_by_folder[job.output.parent_path()].insert(job.output.filename().string());
    int removed = 0;
    for (const auto& [folder, names] : outputs_by_folder) {
        std::error_code ec;
        fs::directory_iterator it(folder.empty() ? fs::path(".") : folder, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            std::string target;
            std::error_code remove_ec;
            if (is_stale_temp_file(it->path().filename().string(), &target) && names.count(target) &&
                fs::remove(it->path(), remove_ec))
                ++removed;
        }
    }
    return removed;
}

}  // namespace nalasr::cli
