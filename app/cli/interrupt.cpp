#include "interrupt.h"

#include <atomic>
#include <csignal>

namespace nalasr::cli {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int signal) { g_signal.store(signal); }

}  // namespace

void install_interrupt_handler() {
    struct sigaction action = {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;  // the default action is back for a second signal
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    std::signal(SIGXFSZ, SIG_IGN);
}

bool interrupt_requested() { return g_signal.load() != 0; }

int interrupt_signal() { return g_signal.load(); }

}  // namespace nalasr::cli
