// Batches through the `nalasr` executable: a folder of every good layout and every kind of bad input, a batch
// killed with SIGKILL and resumed, sharding, recursion with mirrored folders, name patterns, a full disk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "image_exif.h"
#include "nalasr/engine.h"
#include "test_batch_files.h"

namespace fs = std::filesystem;
using namespace nalasr::test;
using nalasr::SampleType;

namespace {

nlohmann::json read_report(const fs::path& path) {
    return nlohmann::json::parse(read_text(path), nullptr, false);
}

// The report's entry for an input file name.
const nlohmann::json* entry_for(const nlohmann::json& report, const std::string& name) {
    for (const auto& f : report["files"])
        if (fs::path(f["input"].get<std::string>()).filename() == name) return &f;
    return nullptr;
}

struct Good {
    std::string input, output;
    int width, height, channels;
    SampleType type;
};

struct Bad {
    std::string input, status, reason;
};

// Runs the CLI with stdout/stderr into a pipe; `on_line` sees each line and may signal the child.
struct ChildRun {
    int exit_code = -1, signal = 0;
    std::string output;
};

template <typename OnLine>
ChildRun run_child(const std::vector<std::string>& args, OnLine on_line) {
    int pipe_fds[2];
    ChildRun run;
    if (pipe(pipe_fds) != 0) return run;
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        std::vector<char*> argv = {const_cast<char*>("nalasr")};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(NALASR_CLI_PATH, argv.data());
        _exit(127);
    }
    close(pipe_fds[1]);
    char buffer[512];
    std::string line;
    while (true) {
        const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) {
            run.output += buffer[i];
            if (buffer[i] != '\n') {
                line += buffer[i];
                continue;
            }
            on_line(line, pid);
            line.clear();
        }
    }
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
    return run;
}

class BatchTest : public CliTest {
protected:
    std::vector<std::string> upscale_args(const fs::path& in, const fs::path& out) const {
        return {"upscale", in.string(), "-o", out.string(), "-m", model_.string(), "--device", "cpu"};
    }
    void save(const fs::path& path, const nalasr::Image& image) {
        fs::create_directories(path.parent_path());
        ASSERT_TRUE(nalasr::save_image(path, image).is_ok()) << path;
    }
};

}  // namespace

// One folder with every layout we read and every kind of bad input. Each good file is upscaled with its depth
// and channels kept; each bad one is reported with its reason; the batch goes on; exit 1; no temporary files.
TEST_F(BatchTest, MixedFolderOfGoodAndBadFiles) {
    const fs::path in = dir_ / "in", out = dir_ / "out";
    save(in / "rgb8.png", random_image(12, 10, 3, SampleType::U8, 1));
    save(in / "rgb16.png", random_image(9, 7, 3, SampleType::U16, 2));
    save(in / "grey.png", random_image(10, 9, 1, SampleType::U8, 3));
    save(in / "grey_alpha.png", random_image(8, 8, 2, SampleType::U16, 4));
    save(in / "rgba.png", random_image(8, 6, 4, SampleType::U8, 5));
    write_bytes(in / "palette.png", palette_png(7, 5));
    nalasr::Image photo = random_image(12, 8, 3, SampleType::U8, 6);
    photo.exif = exif_with_orientation(6);  // rotated 90° clockwise for display: 8 wide, 12 high
    save(in / "photo.jpg", photo);
    save(in / "pic.webp", random_image(10, 10, 3, SampleType::U8, 7));
    save(in / "pic.bmp", random_image(10, 6, 3, SampleType::U8, 8));
    save(in / "t8.tif", random_image(6, 6, 1, SampleType::U8, 9));
    save(in / "t16.tif", random_image(7, 5, 3, SampleType::U16, 10));
    save(in / "tf32.tif", random_image(6, 5, 4, SampleType::F32, 11));
    ASSERT_TRUE(write_tiff(in / "pages.tif", 8, 8, 8, SAMPLEFORMAT_UINT, 2));
    const std::vector<Good> good = {
        {"rgb8.png", "rgb8_x2.png", 24, 20, 3, SampleType::U8},       {"rgb16.png", "rgb16_x2.png", 18, 14, 3, SampleType::U16},
        {"grey.png", "grey_x2.png", 20, 18, 1, SampleType::U8},       {"grey_alpha.png", "grey_alpha_x2.png", 16, 16, 2, SampleType::U16},
        {"rgba.png", "rgba_x2.png", 16, 12, 4, SampleType::U8},       {"palette.png", "palette_x2.png", 14, 10, 3, SampleType::U8},
        {"photo.jpg", "photo_x2.jpg", 16, 24, 3, SampleType::U8},     {"pic.webp", "pic_x2.webp", 20, 20, 3, SampleType::U8},
        {"pic.bmp", "pic_x2.bmp", 20, 12, 3, SampleType::U8},         {"t8.tif", "t8_x2.tif", 12, 12, 1, SampleType::U8},
        {"t16.tif", "t16_x2.tif", 14, 10, 3, SampleType::U16},        {"tf32.tif", "tf32_x2.tif", 12, 10, 4, SampleType::F32},
        {"pages.tif", "pages_x2.tif", 16, 16, 1, SampleType::U8},
    };

    // Bad inputs, one of each kind.
    const nalasr::test::Bytes png = read_bytes(in / "rgb8.png");
    nalasr::test::Bytes corrupt = png;
    corrupt[png.size() / 2] ^= 0x5a;  // inside IDAT: the chunk's CRC no longer matches
    write_bytes(in / "corrupt.png", corrupt);
    write_bytes(in / "truncated.png", nalasr::test::Bytes(png.begin(), png.begin() + std::ptrdiff_t(png.size() / 2)));
    const nalasr::test::Bytes jpg = read_bytes(in / "photo.jpg");
    write_bytes(in / "truncated.jpg", nalasr::test::Bytes(jpg.begin(), jpg.begin() + std::ptrdiff_t(jpg.size() * 2 / 3)));
    write_text(in / "empty.png", "");
    write_text(in / "notes.jpg", "Shopping list: milk, eggs, an image file that is not one.\n");
    ASSERT_TRUE(write_tiff(in / "f64.tif", 6, 4, 64, SAMPLEFORMAT_IEEEFP, 1));
    write_bytes(in / "bomb.png", huge_header_png(200000, 200000));
    // Its output folder cannot be created: out/sub is a file.
    save(in / "sub/blocked.png", random_image(6, 6, 3, SampleType::U8, 12));
    fs::create_directories(out);
    write_text(out / "sub", "a file where the mirrored folder would go");
    // Needs more working memory than --max-memory allows (the refusal an out-of-memory GPU gives).
    save(in / "memory_hog.png", random_image(96, 96, 3, SampleType::U8, 13));
    const std::vector<Bad> bad = {
        {"corrupt.png", "corrupt_data", "bad checksum"},
        {"truncated.png", "corrupt_data", "truncated"},
        {"truncated.jpg", "corrupt_data", "truncated"},
        {"empty.png", "corrupt_data", "empty file (0 bytes)"},
        {"notes.jpg", "unsupported_format", "not a recognised image file"},
        {"f64.tif", "unsupported_format", "64-bit"},
        {"bomb.png", "invalid_argument", "more than the limit"},
        {"blocked.png", "io_error", "cannot create the folder"},
        {"memory_hog.png", "out_of_memory", "more than --max-memory"},
    };

    // --max-memory between what the small images and the big one need.
    nalasr::Model model;
    ASSERT_TRUE(nalasr::Model::load_file(model_, &model).is_ok());
    std::unique_ptr<nalasr::Engine> engine;
    nalasr::EngineParams ep;
    ep.backend = nalasr::BackendKind::Cpu;
    ASSERT_TRUE(nalasr::Engine::create(model, ep, &engine).is_ok());
    const std::size_t small = engine->predict_peak_bytes(12, 12), big = engine->predict_peak_bytes(96, 96);
    ASSERT_LT(small, big);
    const std::string limit = std::to_string((small + big) / 2);

    auto args = upscale_args(in, out);
    args.insert(args.end(), {"--recursive", "--max-memory", limit, "-j", "3", "--report", (dir_ / "r.json").string()});
    const CliRun run = run_cli(args);
    std::printf("%s", run.output.c_str());
    EXPECT_EQ(run.exit_code, 1);

    const nlohmann::json report = read_report(dir_ / "r.json");
    ASSERT_FALSE(report.is_discarded());
    EXPECT_EQ(report["files"].size(), good.size() + bad.size());
    EXPECT_EQ(report["totals"]["succeeded"], good.size());
    EXPECT_EQ(report["totals"]["failed"], bad.size());
    for (const Good& g : good) {
        nalasr::Image result;
        nalasr::LoadInfo info;
        ASSERT_TRUE(nalasr::load_image(out / g.output, &result, {}, &info).is_ok()) << g.output;
        EXPECT_EQ(result.width, g.width) << g.output;
        EXPECT_EQ(result.height, g.height) << g.output;
        EXPECT_EQ(result.channels, g.channels) << g.output;
        EXPECT_EQ(result.type, g.type) << g.output;
        const nlohmann::json* e = entry_for(report, g.input);
        ASSERT_NE(e, nullptr) << g.input;
        EXPECT_EQ((*e)["status"], "ok") << g.input;
        EXPECT_GT((*e)["bytes_out"].get<std::size_t>(), 0u) << g.input;
        EXPECT_GT((*e)["seconds"].get<double>(), 0.0) << g.input;
        EXPECT_GT((*e)["peak_rss_bytes"].get<std::size_t>(), 0u) << g.input;
    }
    nalasr::Image rotated;
    ASSERT_TRUE(nalasr::load_image(out / "photo_x2.jpg", &rotated).is_ok());
    EXPECT_EQ(nalasr::detail::exif_orientation(rotated.exif), 1);  // the pixels are upright: orientation reset
    EXPECT_NE(entry_for(report, "pages.tif")->dump().find("only the first is used"), std::string::npos);

    for (const Bad& b : bad) {
        const nlohmann::json* e = entry_for(report, b.input);
        ASSERT_NE(e, nullptr) << b.input;
        EXPECT_EQ((*e)["status"], b.status) << b.input;
        const std::string error = (*e)["error"].is_string() ? (*e)["error"].get<std::string>() : "";
        EXPECT_NE(error.find(b.reason), std::string::npos) << b.input << ": " << error;
        // One line on the terminal names the file and the reason.
        const std::string line = "error: " + (*e)["input"].get<std::string>() + ": ";
        EXPECT_NE(run.output.find(line), std::string::npos) << line;
    }
    EXPECT_TRUE(temp_files_below(out).empty());
    EXPECT_TRUE(temp_files_below(in).empty());
    EXPECT_EQ(read_bytes(in / "rgb8.png"), png);  // inputs untouched
}

// SIGKILL mid-batch (nothing can be cleaned up), then a second run with --skip-existing: it removes the killed
// run's temporary files, skips what is done, and ends with every output complete and decodable.
TEST_F(BatchTest, KilledBatchResumesWithSkipExisting) {
    const fs::path in = dir_ / "in", out = dir_ / "out";
    constexpr int kFiles = 8;
    for (int i = 0; i < kFiles; ++i) save(in / ("img" + std::to_string(i) + ".png"), random_image(80, 60, 3, SampleType::U8, 100 + i));
    int done_before_kill = 0;
    ChildRun killed = run_child(upscale_args(in, out), [&](const std::string& line, pid_t pid) {
        if (line.rfind("ok: ", 0) == 0 && ++done_before_kill == 2) kill(pid, SIGKILL);
    });
    std::printf("%s", killed.output.c_str());
    ASSERT_EQ(killed.signal, SIGKILL);
    const auto written = std::distance(fs::directory_iterator(out), fs::directory_iterator());
    EXPECT_LT(written, kFiles + 1) << "the batch finished before it could be killed";
    // What a process killed while writing leaves behind: a temporary file of a process that is gone.
    const pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    const fs::path stale = out / (".img7_x2.png.tmp-" + std::to_string(gone) + "-0");
    write_text(stale, "half an image");

    auto args = upscale_args(in, out);
    args.insert(args.end(), {"--skip-existing", "--report", (dir_ / "r.json").string()});
    const CliRun resumed = run_cli(args);
    std::printf("%s", resumed.output.c_str());
    EXPECT_EQ(resumed.exit_code, 0);
    // Ours, plus any the killed run was writing (writes run in parallel, so there may be several).
    std::smatch removed;
    ASSERT_TRUE(std::regex_search(resumed.output, removed, std::regex("removed ([0-9]+) temporary file")))
        << resumed.output;
    EXPECT_GE(std::stoi(removed[1]), 1);
    EXPECT_FALSE(fs::exists(stale));
    const nlohmann::json report = read_report(dir_ / "r.json");
    ASSERT_FALSE(report.is_discarded());
    EXPECT_GE(report["totals"]["skipped"].get<int>(), 2);
    EXPECT_EQ(report["totals"]["succeeded"], kFiles);
    for (int i = 0; i < kFiles; ++i) {
        nalasr::Image result;
        const fs::path output = out / ("img" + std::to_string(i) + "_x2.png");
        ASSERT_TRUE(nalasr::load_image(output, &result).is_ok()) << output;
        EXPECT_EQ(result.width, 160);
        EXPECT_EQ(result.height, 120);
    }
    EXPECT_TRUE(temp_files_below(out).empty());
    EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), kFiles);
}

// Ctrl-C mid-batch: the summary is printed, exit 130, and --skip-existing finishes the rest.
TEST_F(BatchTest, InterruptedBatchResumes) {
    const fs::path in = dir_ / "in", out = dir_ / "out";
    constexpr int kFiles = 6;
    for (int i = 0; i < kFiles; ++i) save(in / ("img" + std::to_string(i) + ".png"), random_image(90, 70, 3, SampleType::U8, 200 + i));
    int done = 0;
    ChildRun interrupted = run_child(upscale_args(in, out), [&](const std::string& line, pid_t pid) {
        if (line.rfind("ok: ", 0) == 0 && ++done == 1) kill(pid, SIGINT);
    });
    std::printf("%s", interrupted.output.c_str());
    EXPECT_EQ(interrupted.exit_code, 130);
    EXPECT_NE(interrupted.output.find("interrupted (Ctrl-C)"), std::string::npos);
    EXPECT_TRUE(temp_files_below(out).empty());

    auto args = upscale_args(in, out);
    args.push_back("--skip-existing");
    const CliRun resumed = run_cli(args);
    EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
    for (int i = 0; i < kFiles; ++i) EXPECT_TRUE(fs::exists(out / ("img" + std::to_string(i) + "_x2.png"))) << i;
}

// --shard I/N over a folder: the shards cover every file exactly once, whatever the order they run in.
TEST_F(BatchTest, ShardsSplitTheSortedListWithoutOverlap) {
    const fs::path in = dir_ / "in", out = dir_ / "out";
    constexpr int kFiles = 7;
    for (int i = 0; i < kFiles; ++i) save(in / ("f" + std::to_string(i) + ".png"), random_image(5, 4, 3, SampleType::U8, 300 + i));
    std::multiset<std::string> outputs;
    for (int shard : {3, 1, 2}) {
        auto args = upscale_args(in, out);
        const fs::path report = dir_ / ("shard" + std::to_string(shard) + ".json");
        args.insert(args.end(), {"--shard", std::to_string(shard) + "/3", "--report", report.string()});
        const CliRun run = run_cli(args);
        ASSERT_EQ(run.exit_code, 0) << run.output;
        const nlohmann::json json = read_report(report);
        EXPECT_EQ(json["shard"], std::to_string(shard) + "/3");
        EXPECT_EQ(json["files"].size(), shard == 1 ? 3u : 2u);  // 7 files: 3 + 2 + 2
        for (const auto& f : json["files"]) outputs.insert(fs::path(f["output"].get<std::string>()).filename().string());
    }
    EXPECT_EQ(outputs.size(), std::size_t(kFiles));
    EXPECT_EQ(std::set<std::string>(outputs.begin(), outputs.end()).size(), std::size_t(kFiles));
    for (const char* wrong : {"0/3", "4/3", "1/0", "a/b", "2"}) {
        auto args = upscale_args(in, out);
        args.insert(args.end(), {"--shard", wrong});
        EXPECT_EQ(run_cli(args).exit_code, 2) << wrong;
    }
}

// --recursive mirrors subfolders, skips hidden ones and never descends into the output folder inside the input;
// --name and -f shape the names.
TEST_F(BatchTest, RecursiveMirrorsTheTreeWithANamePattern) {
    const fs::path in = dir_ / "photos";
    save(in / "a.png", random_image(6, 5, 3, SampleType::U8, 1));
    save(in / "2024/summer/b.jpg", random_image(7, 6, 3, SampleType::U8, 2));
    save(in / ".thumbnails/c.png", random_image(4, 4, 3, SampleType::U8, 3));
    const fs::path out = in / "upscaled";
    auto args = upscale_args(in, out);
    args.insert(args.end(), {"--recursive", "--name", "{name}-{ext}-big{scale}", "-f", "webp"});
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_TRUE(fs::exists(out / "a-png-big2.webp"));
    EXPECT_TRUE(fs::exists(out / "2024/summer/b-jpg-big2.webp"));
    EXPECT_FALSE(fs::exists(out / ".thumbnails"));
    // Again into the same folder: the earlier outputs inside the input tree are not inputs now.
    args.push_back("--skip-existing");
    run = run_cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("2 file(s): 0 ok, 2 skipped"), std::string::npos) << run.output;

    for (const char* pattern : {"{stem}", "a/{name}", "{name", ""}) {
        auto bad = upscale_args(in, dir_ / "out2");
        bad.insert(bad.end(), {"--name", pattern});
        EXPECT_EQ(run_cli(bad).exit_code, 2) << pattern;
    }
}

// Writes that fail for lack of space are reported per file; the batch goes on and nothing partial is left.
// A file-size limit (RLIMIT_FSIZE) fails writes with EFBIG for anyone; a 64 KiB tmpfs gives a real ENOSPC
// where mounting is allowed (root in a sandbox), and is skipped elsewhere.
TEST_F(BatchTest, WriteFailuresAreReportedPerFile) {
    const fs::path in = dir_ / "in", out = dir_ / "out";
    save(in / "big.png", random_image(64, 64, 3, SampleType::U8, 1));     // 128x128 BMP: 48 KiB
    save(in / "small.png", random_image(8, 8, 3, SampleType::U8, 2));     // 16x16 BMP: under 1 KiB
    auto args = upscale_args(in, out);
    args.insert(args.end(), {"-f", "bmp"});
    const pid_t pid = fork();
    if (pid == 0) {
        const rlimit limit{32 << 10, 32 << 10};
        setrlimit(RLIMIT_FSIZE, &limit);
        const int null_fd = ::open("/dev/null", O_WRONLY);
        dup2(null_fd, STDOUT_FILENO);
        std::vector<char*> argv = {const_cast<char*>("nalasr")};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(NALASR_CLI_PATH, argv.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 1);
    EXPECT_FALSE(fs::exists(out / "big_x2.bmp"));
    EXPECT_TRUE(fs::exists(out / "small_x2.bmp"));
    EXPECT_TRUE(temp_files_below(out).empty());

    const fs::path tiny = dir_ / "tinyfs";
    fs::create_directories(tiny);
    if (::mount("tmpfs", tiny.c_str(), "tmpfs", 0, "size=64k") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
    auto on_tiny = upscale_args(in, tiny);
    // One write at a time (-j 1): with parallel writes the failing big file's temporary file could still hold
    // the space the small one needs.
    on_tiny.insert(on_tiny.end(), {"-f", "bmp", "-j", "1", "--name", "{name}_a"});
    CliRun first = run_cli(on_tiny);  // 48 KiB + 1 KiB fit in 64 KiB
    on_tiny.back() = "{name}_b";
    CliRun second = run_cli(on_tiny);  // another 48 KiB does not
    std::printf("%s", second.output.c_str());
    const bool small_b = fs::exists(tiny / "small_b.bmp"), big_b = fs::exists(tiny / "big_b.bmp");
    const auto leftovers = temp_files_below(tiny);
    ::umount2(tiny.c_str(), MNT_DETACH);
    EXPECT_EQ(first.exit_code, 0) << first.output;
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_NE(second.output.find("No space left on device"), std::string::npos);
    EXPECT_FALSE(big_b);
    EXPECT_TRUE(small_b);
    EXPECT_TRUE(leftovers.empty());
}

TEST_F(BatchTest, OverwriteAndSkipExistingExcludeEachOther) {
    save(dir_ / "a.png", random_image(4, 4, 3, SampleType::U8, 1));
    auto args = upscale_args(dir_ / "a.png", dir_ / "out");
    args.insert(args.end(), {"--overwrite", "--skip-existing"});
    EXPECT_EQ(run_cli(args).exit_code, 2);
}

// An output folder that cannot be created or written is a setup error (exit 2) before any work: under a file,
// and (where mounting is allowed) on a read-only file system, which permission bits do not reveal to root.
TEST_F(BatchTest, UnwritableOutputFolderIsASetupError) {
    save(dir_ / "in/a.png", random_image(4, 4, 3, SampleType::U8, 1));
    write_text(dir_ / "file", "x");
    CliRun run = run_cli(upscale_args(dir_ / "in", dir_ / "file/out"));
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("cannot create"), std::string::npos) << run.output;

    const fs::path read_only = dir_ / "ro";
    fs::create_directories(read_only);
    if (::mount("tmpfs", read_only.c_str(), "tmpfs", MS_RDONLY, "size=64k") != 0) GTEST_SKIP() << "cannot mount here";
    run = run_cli(upscale_args(dir_ / "in", read_only));
    ::umount2(read_only.c_str(), MNT_DETACH);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("Read-only file system"), std::string::npos) << run.output;
}
