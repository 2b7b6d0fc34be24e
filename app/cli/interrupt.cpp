#include "interrupt.h"

#include <atomic>
#include <csignal>

namespace nalasr::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

}  // namespace

void install_interrupt_handler() {
    struct sigaction action = {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;  // the default action is back for a second Ctrl-C
    sigaction(SIGINT, &action, nullptr);
}

bool interrupt_requested() { return g_interrupted.load(); }

}  // namespace nalasr::cli
