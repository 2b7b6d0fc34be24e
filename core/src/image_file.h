// File plumbing for image I/O: whole-file reads, and atomic writes through a temporary file in the destination
// folder that is renamed over the target only when complete.
#pragma once

#include <filesystem>

#include "image_bytes.h"
#include "nalasr/status.h"

namespace nalasr::detail {

Status read_file(const std::filesystem::path& path, Bytes* out);

// A temporary file next to `destination`, removed on destruction unless commit() renamed it into place.
class TempFile {
public:
    TempFile() = default;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();

    // Creates the empty temporary file (permissions as for a normal new file, i.e. 0666 & ~umask).
    Status create(const std::filesystem::path& destination);
    const std::filesystem::path& path() const { return temp_; }
    Status write(ByteView bytes);
    // Renames the temporary file over the destination.
    Status commit();

private:
    std::filesystem::path destination_, temp_;
    int fd_ = -1;
    bool committed_ = false;
};

// Writes `bytes` to `path` atomically.
Status write_file_atomic(const std::filesystem::path& path, ByteView bytes);

}  // namespace nalasr::detail
