// Helpers shared by the tests of the `nalasr` executable (test_cli.cpp, test_batch*.cpp): running it, random
// images, small files, and a fixture with a temporary folder holding a tiny random ×2 model.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "nalasr/engine.h"
#include "nalasr/image.h"
#include "nalasr/model.h"
#include "random_image.h"
#include "tiny_model.h"

namespace nalasr::test {

namespace fs = std::filesystem;

struct CliRun {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline CliRun run_cli(const std::vector<std::string>& args) {
    std::string command = shell_quote(NALASR_CLI_PATH);
    for (const auto& a : args) command += " " + shell_quote(a);
    command += " 2>&1";
    CliRun run;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return run;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) run.output.append(buffer, n);
    const int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

inline void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

inline std::string read_text(const fs::path& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// Every file below `folder` whose name marks it as save_image's temporary file.
inline std::vector<fs::path> temp_files_below(const fs::path& folder) {
    std::vector<fs::path> found;
    for (const auto& entry : fs::recursive_directory_iterator(folder))
        if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path());
    return found;
}

// A temporary folder with a small random x2 model in it (fast enough for a CPU test).
class CliTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("nalasr-cli-test-" + std::to_string(rd()));
        fs::create_directories(dir_);
        model_ = dir_ / "tiny x2.safetensors";
        auto st = Model::random(test::tiny_config(), 7).save_file(model_);
        if (!st) GTEST_SKIP() << "Model::random/save_file not available yet: " << st.message();
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    // The samples the CPU engine makes of `in` with the folder's model and `params` (empty when it fails).
    std::vector<std::uint8_t> engine_pixels(const Image& in, const UpscaleParams& params) const {
        Model model;
        std::unique_ptr<Engine> engine;
        EngineParams engine_params;
        engine_params.backend = BackendKind::Cpu;
        Image out;
        if (!Model::load_file(model_, &model) || !Engine::create(model, engine_params, &engine) ||
            !engine->upscale(in, &out, params, nullptr))
            return {};
        return out.pixels;
    }
    // The samples of the image file `name` in the folder (empty when it does not load).
    std::vector<std::uint8_t> file_pixels(const std::string& name) const {
        Image image;
        return load_image(dir_ / name, &image) ? image.pixels : std::vector<std::uint8_t>();
    }
    fs::path dir_, model_;
};

}  // namespace nalasr::test
