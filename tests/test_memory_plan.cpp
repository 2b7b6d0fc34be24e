// The memory planner: a valid packing, and its predicted peak against the forward's observed high-water mark.
#include <gtest/gtest.h>

#include <random>

#include "backend.h"
#include "cpu/network_program.h"
#include "memory_plan.h"
#include "nalasr/engine.h"
#include "test_util.h"
#include "tiny_model.h"

namespace nalasr {
namespace {

TEST(MemoryPlan, BuffersLiveTogetherNeverOverlap) {
    std::mt19937 rng(1);
    std::vector<BufferLifetime> buffers;
    for (int i = 0; i < 200; ++i) {
        const int first = int(rng() % 100);
        buffers.push_back({1 + rng() % 100000, first, first + int(rng() % 10)});
    }
    const MemoryPlan plan = plan_memory(buffers);
    for (std::size_t a = 0; a < buffers.size(); ++a) {
        EXPECT_EQ(plan.offsets[a] % kArenaAlignment, 0u);
        EXPECT_LE(plan.offsets[a] + buffers[a].bytes, plan.arena_bytes);
        for (std::size_t b = a + 1; b < buffers.size(); ++b) {
            const bool together = buffers[a].first_step <= buffers[b].last_step &&
                                  buffers[b].first_step <= buffers[a].last_step;
            const bool disjoint = plan.offsets[a] + buffers[a].bytes <= plan.offsets[b] ||
                                  plan.offsets[b] + buffers[b].bytes <= plan.offsets[a];
            if (together) ASSERT_TRUE(disjoint) << a << " and " << b;
        }
    }
    EXPECT_GE(plan.arena_bytes, plan.peak_live_bytes);
    std::printf("  random lifetimes: arena %zu bytes, lower bound %zu (%.1f%% over)\n", plan.arena_bytes,
                plan.peak_live_bytes, 100.0 * (double(plan.arena_bytes) / plan.peak_live_bytes - 1));
}

// On the real network the greedy plan should be within 5% of the lower bound (the most bytes live at once).
TEST(MemoryPlan, NetworkArenaIsNearLowerBound) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        ModelConfig config;  // the default network
        config.attention = kind;
        const Model model = Model::random(config, 10);
        const cpu::NetworkWeights weights(model);
        const cpu::Program program = cpu::build_network_program(weights, 265, 265, nullptr, nullptr);
        const MemoryPlan plan = plan_memory(program.lifetimes());
        std::printf("  %-7s 265x265 arena %.1f MiB, lower bound %.1f MiB, attention/conv scratch %.1f MiB\n",
                    attention_kind_name(kind), plan.arena_bytes / 1048576.0, plan.peak_live_bytes / 1048576.0,
                    program.max_scratch_bytes() / 1048576.0);
        EXPECT_LE(double(plan.arena_bytes), 1.05 * double(plan.peak_live_bytes));
    }
}

TEST(MemoryPlan, PredictedPeakMatchesObserved) {
    for (AttentionKind kind : {AttentionKind::Nala, AttentionKind::Pola, AttentionKind::Softmax}) {
        ModelConfig config = test::tiny_config(4, kind, /*groups=*/2);
        config.blocks = 2;
        const Model model = Model::random(config, 11);
        EngineParams params;
        params.backend = BackendKind::Cpu;
        std::unique_ptr<Engine> engine;
        ASSERT_TRUE(Engine::create(model, params, &engine));
        for (const auto& [w, h] : {std::pair{13, 9}, std::pair{32, 20}, std::pair{61, 47}}) {
            const auto rgb = test::random_floats(std::size_t(w) * h * 3, 12, 0.0f, 1.0f);
            std::vector<float> out;
            UpscaleStats stats;
            ASSERT_TRUE(engine->run_network(rgb.data(), w, h, &out, {}, &stats));
            EXPECT_EQ(stats.planned_peak_bytes, engine->predict_peak_bytes(w, h));
            const double ratio = double(stats.observed_peak_bytes) / double(stats.planned_peak_bytes);
            std::printf("  %-7s %2dx%-2d planned %9zu observed %9zu (observed/planned %.4f)\n",
                        attention_kind_name(kind), w, h, stats.planned_peak_bytes, stats.observed_peak_bytes, ratio);
            EXPECT_GE(ratio, 0.95);
            EXPECT_LE(ratio, 1.0);
        }
    }
}

// The CPU backend's out-of-memory hint must leave room for the output image it allocates beside its plan: the
// suggested side s satisfies plan(s) + output(s) <= budget < plan(s+1) + output(s+1).
TEST(MemoryPlan, LargestSquareLeavesRoomForBytesPerPixel) {
    std::unique_ptr<Backend> backend;
    ASSERT_TRUE(create_cpu_backend(Model::random(test::tiny_config(4), 5), 1, &backend));
    const std::size_t budget = backend->predict_peak_bytes(300, 300);
    const std::size_t output_per_pixel = 4 * 4 * 3 * sizeof(float);
    const int plan_only = largest_square_that_fits(*backend, budget);
    const int with_output = largest_square_that_fits(*backend, budget, output_per_pixel);
    auto need = [&](int side) {
        return backend->predict_peak_bytes(side, side) + std::size_t(side) * side * output_per_pixel;
    };
    std::printf("  budget %zu: plan only %d, with the output image %d\n", budget, plan_only, with_output);
    EXPECT_GE(plan_only, 300);
    EXPECT_LT(with_output, plan_only);
    EXPECT_LE(need(with_output), budget);
    EXPECT_GT(need(with_output + 1), budget);
}

}  // namespace
}  // namespace nalasr
