// Ctrl-C handling: the first SIGINT sets a flag that the engine polls (UpscaleParams::should_abort), so the
// current image stops cleanly and no partial file is written; a second SIGINT ends the process at once.
#pragma once

namespace nalasr::cli {

void install_interrupt_handler();
bool interrupt_requested();

}  // namespace nalasr::cli
