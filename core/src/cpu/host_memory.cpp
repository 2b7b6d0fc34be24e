#include "cpu/host_memory.h"

#include <fstream>
#include <string>
#include <sys/resource.h>

namespace nalasr::cpu {

std::size_t host_available_bytes() {
    std::ifstream meminfo("/proc/meminfo");
    std::string line;
    while (std::getline(meminfo, line)) {
        if (line.rfind("MemAvailable:", 0) == 0) return std::stoull(line.substr(13)) * 1024;  // reported in kB
    }
    return 0;
}

std::size_t peak_rss_bytes() {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return std::size_t(usage.ru_maxrss) * 1024;  // Linux reports kB
}

}  // namespace nalasr::cpu
