// Stop requests: Ctrl-C (SIGINT) and SIGTERM (what a cluster scheduler sends at a time limit or preemption)
// set a flag that the engine polls (UpscaleParams::should_abort), so the current image stops cleanly and no
// partial file is written; a second signal ends the process at once. SIGXFSZ is ignored so that a file-size
// limit makes the write fail with an error (reported per file) instead of killing the process.
#pragma once

namespace nalasr::cli {

void install_interrupt_handler();
bool interrupt_requested();
// The signal that asked to stop (SIGINT or SIGTERM), 0 when none did.
int interrupt_signal();

}  // namespace nalasr::cli
