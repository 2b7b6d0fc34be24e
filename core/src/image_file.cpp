// Whole-file reads and atomic writes (POSIX: open(O_EXCL) + rename, which is atomic within one folder).
#include "image_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace nalasr::detail {
namespace fs = std::filesystem;

Status read_file(const fs::path& path, Bytes* out) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return {StatusCode::IoError, path.string() + ": is a folder, not a file"};
    std::ifstream file(path, std::ios::binary);
    if (!file) return {StatusCode::IoError, path.string() + ": cannot open (" + std::strerror(errno) + ")"};
    file.seekg(0, std::ios::end);
    const std::streamoff size = file.tellg();
    file.seekg(0, std::ios::beg);
    if (size < 0) return {StatusCode::IoError, path.string() + ": cannot read"};
    out->resize(std::size_t(size));
    if (size > 0 && !file.read(reinterpret_cast<char*>(out->data()), size))
        return {StatusCode::IoError, path.string() + ": read failed"};
    return Status::ok();
}

namespace {

constexpr char kTempMarker[] = ".tmp-";

// ".photo.png.tmp-PID-N": hidden, next to its target, and naming the process that writes it.
std::string temp_name(const std::string& target, long pid, unsigned n) {
    return "." + target + kTempMarker + std::to_string(pid) + "-" + std::to_string(n);
}

}  // namespace

TempFile::~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty() && !committed_) {
        std::error_code ec;
        fs::remove(temp_, ec);
    }
}

Status TempFile::create(const fs::path& destination) {
    static std::atomic<unsigned> counter{0};
    destination_ = destination;
    const fs::path folder = destination.has_parent_path() ? destination.parent_path() : fs::path(".");
    for (int attempt = 0; attempt < 100; ++attempt) {
        const fs::path candidate = folder / temp_name(destination.filename().string(), ::getpid(), counter++);
        int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            fd_ = fd;
            temp_ = candidate;
            return Status::ok();
        }
        if (errno != EEXIST)
            return {StatusCode::IoError, "cannot create a file in " + folder.string() + " (" + std::strerror(errno) + ")"};
    }
    return {StatusCode::IoError, "cannot create a temporary file in " + folder.string()};
}

Status TempFile::write(ByteView bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return {StatusCode::IoError, std::string("write failed (") + std::strerror(errno) + ")"};
        done += std::size_t(n);
    }
    return Status::ok();
}

Status TempFile::commit() {
    if (fd_ >= 0) {
        const bool synced = ::fsync(fd_) == 0;
        const bool closed = ::close(fd_) == 0;
        fd_ = -1;
        if (!synced || !closed)
            return {StatusCode::IoError, std::string("write failed (") + std::strerror(errno) + ")"};
    }
    if (::rename(temp_.c_str(), destination_.c_str()) != 0)
        return {StatusCode::IoError, std::string("cannot rename into place (") + std::strerror(errno) + ")"};
    committed_ = true;
    return Status::ok();
}

Status write_file_atomic(const fs::path& path, ByteView bytes) {
    TempFile temp;
    if (auto st = temp.create(path); !st) return st;
    if (auto st = temp.write(bytes); !st) return st;
    return temp.commit();
}

}  // namespace nalasr::detail

namespace nalasr {

bool is_stale_temp_file(const std::string& file_name, std::string* target_name) {
    const std::size_t marker = file_name.rfind(detail::kTempMarker);
    if (file_name.size() < 2 || file_name[0] != '.' || marker == std::string::npos || marker < 2) return false;
    const std::string tail = file_name.substr(marker + std::strlen(detail::kTempMarker));  // "PID-N"
    const std::size_t dash = tail.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == tail.size() ||
        tail.find_first_not_of("0123456789-") != std::string::npos || tail.find('-', dash + 1) != std::string::npos)
        return false;
    const long pid = std::strtol(tail.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) return false;
    // kill(pid, 0) delivers nothing; ESRCH means no such process (EPERM: it exists, owned by someone else).
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) return false;
    *target_name = file_name.substr(1, marker - 1);
    return true;
}

}  // namespace nalasr
