// A uniquely named temporary folder for a test, removed with everything in it when the test ends.
#pragma once

#include <filesystem>
#include <iterator>
#include <random>
#include <string>
#include <system_error>

namespace nalasr::test {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "nalasr-test-") {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() / (prefix + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // A path inside the folder; `name` is UTF-8.
    std::filesystem::path operator/(const std::string& name) const { return path_ / std::filesystem::u8path(name); }
    const std::filesystem::path& path() const { return path_; }
    std::size_t entries() const {
        return std::size_t(std::distance(std::filesystem::directory_iterator(path_), std::filesystem::directory_iterator()));
    }

private:
    std::filesystem::path path_;
};

}  // namespace nalasr::test
