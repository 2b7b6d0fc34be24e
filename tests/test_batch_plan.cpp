// The pure parts of batch planning: name patterns, --shard parsing and selection, folder listing order,
// --max-memory sizes, and recognising the temporary files a killed run left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "input_files.h"
#include "job_plan.h"
#include "output_name.h"
#include "test_cli_support.h"
#include "text_format.h"

namespace fs = std::filesystem;
using namespace nalasr;
using namespace nalasr::test;

TEST(NamePattern, ExpandsPlaceholders) {
    EXPECT_EQ(cli::expand_name_pattern("{name}_x{scale}", "photo", "4", "jpg"), "photo_x4");
    EXPECT_EQ(cli::expand_name_pattern("big-{name}.{ext}", "a b", "2", "png"), "big-a b.png");
    EXPECT_EQ(cli::expand_name_pattern("fixed", "photo", "3", "tif"), "fixed");
    EXPECT_TRUE(cli::check_name_pattern(cli::kDefaultNamePattern).empty());
    EXPECT_TRUE(cli::check_name_pattern("{ext}{name}{scale}").empty());
}

TEST(NamePattern, RefusesWhatCannotNameAFile) {
    for (const char* bad : {"", "{stem}", "{name", "sub/{name}", ".", ".."})
        EXPECT_FALSE(cli::check_name_pattern(bad).empty()) << bad;
    EXPECT_NE(cli::check_name_pattern("{stem}").find("{stem}"), std::string::npos);
}

TEST(Shard, ParsesIOverN) {
    cli::Shard shard;
    EXPECT_TRUE(cli::parse_shard("3/8", &shard).empty());
    EXPECT_EQ(shard.index, 3);
    EXPECT_EQ(shard.count, 8);
    for (const char* bad : {"0/8", "9/8", "1/0", "-1/2", "3", "3/", "/8", "a/b", "1/2/3", " 1/2"})
        EXPECT_FALSE(cli::parse_shard(bad, &shard).empty()) << bad;
}

// Every file in exactly one shard, and shard sizes within one of each other.
TEST(Shard, PartitionsTheListEvenly) {
    std::vector<cli::InputFile> files;
    for (int i = 0; i < 23; ++i) files.push_back({fs::path("f" + std::to_string(i)), {}});
    for (int count : {1, 2, 5, 23, 40}) {
        std::multiset<std::string> seen;
        std::size_t smallest = files.size(), largest = 0;
        for (int index = 1; index <= count; ++index) {
            const auto part = cli::select_shard(files, {index, count});
            smallest = std::min(smallest, part.size());
            largest = std::max(largest, part.size());
            for (const auto& f : part) seen.insert(f.path.string());
        }
        EXPECT_EQ(seen.size(), files.size()) << count;
        EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), files.size()) << count;
        EXPECT_LE(largest - smallest, 1u) << count;
    }
}

class ListingTest : public CliTest {};

// Sorted by path whatever order the files were created in; hidden entries and the excluded folder skipped.
TEST_F(ListingTest, RecursiveListingIsSortedAndSkipsHiddenAndOutput) {
    const fs::path in = dir_ / "in";
    for (const char* name : {"z.png", "b/y.jpg", "a.tif", "b/a.png", ".hidden/x.png", "b/.x.png", "out/o.png",
                             "notes.txt", "c/d/e.webp"}) {
        fs::create_directories((in / name).parent_path());
        write_text(in / name, "x");
    }
    const auto listing = cli::list_inputs({in}, true, in / "out");
    std::vector<std::string> got;
    for (const auto& f : listing.files) got.push_back(f.path.lexically_relative(in).string() + "|" + f.subfolder.string());
    const std::vector<std::string> want = {"a.tif|", "b/a.png|b", "b/y.jpg|b", "c/d/e.webp|c/d", "z.png|"};
    EXPECT_EQ(got, want);
    EXPECT_TRUE(listing.any_folder);
    EXPECT_EQ(cli::list_inputs({in}, false, {}).files.size(), 2u);  // a.tif and z.png: the top level only
}

TEST(ByteSize, ParsesUnits) {
    std::size_t bytes = 0;
    EXPECT_TRUE(cli::parse_byte_size("1500", &bytes));
    EXPECT_EQ(bytes, 1500u);
    EXPECT_TRUE(cli::parse_byte_size("512M", &bytes));
    EXPECT_EQ(bytes, 512u << 20);
    EXPECT_TRUE(cli::parse_byte_size("1.5GiB", &bytes));
    EXPECT_EQ(bytes, 3u << 29);
    EXPECT_TRUE(cli::parse_byte_size("2gb", &bytes));
    EXPECT_EQ(bytes, std::size_t(2) << 30);
    for (const char* bad : {"", "G", "-1G", "0", "12X", "1.5 G", "nan", "1e30"})
        EXPECT_FALSE(cli::parse_byte_size(bad, &bytes)) << bad;
}

TEST(StaleTempFile, RecognisesLeftoversOfDeadProcessesOnly) {
    const pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    std::string target;
    EXPECT_TRUE(is_stale_temp_file(".photo_x4.png.tmp-" + std::to_string(gone) + "-3", &target));
    EXPECT_EQ(target, "photo_x4.png");
    // Our own process, a running one (pid 1), and names that only look similar.
    EXPECT_FALSE(is_stale_temp_file(".a.png.tmp-" + std::to_string(getpid()) + "-0", &target));
    EXPECT_FALSE(is_stale_temp_file(".a.png.tmp-1-0", &target));
    for (const char* other : {"a.png.tmp-99999999-0", ".a.png.tmp-x-0", ".a.png.tmp-123", ".tmp-123-4", ".a.png"})
        EXPECT_FALSE(is_stale_temp_file(other, &target)) << other;
}
