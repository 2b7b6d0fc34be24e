// Records an upscale's progress reports (fraction, stage) and checks what every front end relies on: the fraction
// never falls and ends at 1. Shared by the engine, host-TTA and CUDA-TTA tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "nalasr/engine.h"

namespace nalasr::test {

struct ProgressLog {
    std::vector<std::pair<double, std::string>> reports;

    // Installs the recorder as `params.progress`.
    void attach(UpscaleParams& params) {
        params.progress = [this](double fraction, const char* stage) { reports.emplace_back(fraction, stage); };
    }

    void expect_monotonic_to_one() const {
        ASSERT_FALSE(reports.empty());
        for (std::size_t i = 1; i < reports.size(); ++i)
            EXPECT_GE(reports[i].first, reports[i - 1].first) << reports[i - 1].second << " → " << reports[i].second;
        EXPECT_EQ(reports.back().first, 1.0);
    }

    // The network stages ("network", "network (TTA k/8)") in the order they first appear.
    std::vector<std::string> network_stages() const {
        std::vector<std::string> stages;
        for (const auto& report : reports)
            if (report.second.rfind("network", 0) == 0 && (stages.empty() || stages.back() != report.second))
                stages.push_back(report.second);
        return stages;
    }

    // The 8 TTA passes, each under its own stage name, in order.
    void expect_tta_passes() const {
        const std::vector<std::string> passes = network_stages();
        ASSERT_EQ(passes.size(), 8u);
        for (int k = 0; k < 8; ++k) EXPECT_EQ(passes[k], "network (TTA " + std::to_string(k + 1) + "/8)");
    }
};

}  // namespace nalasr::test
