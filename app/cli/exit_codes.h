// Exit codes of `nalasr` (documented in --help and README.md).
#pragma once

namespace nalasr::cli {

enum ExitCode : int {
    kExitOk = 0,           // every file succeeded
    kExitSomeFailed = 1,   // at least one file failed (each reported on its own line)
    kExitSetup = 2,        // usage error, or nothing could run (model not loadable, backend unavailable)
    kExitSignalBase = 128, // stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM)
    kExitInterrupted = 130 // Ctrl-C (128 + SIGINT)
};

}  // namespace nalasr::cli
