// Output files: one request id, one file name; nothing outside the output root is ever written
// and no existing file (or planted link) is opened for writing or replaced.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "postprocessing/asset_writer.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Image solid(std::uint8_t v) { return Image{16, 16, 3, std::vector<std::uint8_t>(16 * 16 * 3, v)}; }

struct Sandbox {
  fs::path base = fs::path(testing::TempDir()) / ("outputs_" + std::to_string(::getpid()));
  fs::path root = base / "out";
  Sandbox() {
    fs::remove_all(base);
    fs::create_directories(root);
  }
  ~Sandbox() { fs::remove_all(base); }
  std::string write(const std::string& id, std::uint8_t value = 1) const {
    AssetOptions options;
    options.name = id;
    return AssetWriter(root.string()).write({solid(value)}, {{"seed", 1}}, options)[0]["path"].get<std::string>();
  }
};

TEST(OutputFiles, DifferentRequestIdsNeverShareAFile) {
  Sandbox s;
  const std::string long_prefix(100, 'a');
  const std::vector<std::string> ids = {"x/y", "x_y", "x?y", long_prefix + "1", long_prefix + "2", "", "..", "."};
  std::set<std::string> paths;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto path = s.write(ids[i], static_cast<std::uint8_t>(i));
    EXPECT_TRUE(paths.insert(path).second) << ids[i] << " -> " << path;
    EXPECT_EQ(fs::path(path).parent_path(), fs::canonical(s.root));
  }
  EXPECT_EQ(fs::path(s.write("x_y")).filename(), "x_y-1.png");  // the id again: a new file
  EXPECT_EQ(fs::path(s.write("plain-id_1.2")).filename(), "plain-id_1.2.png");  // safe ids stay as they are
  EXPECT_EQ(output_stem("x/y"), "x_y-becfa919");  // as docs/protocol.md shows it (FNV-1a, stable)
  EXPECT_NE(output_stem("x/y"), output_stem("x_y"));
}

TEST(OutputFiles, PlantedLinksAndExistingFilesAreNeverWrittenThrough) {
  Sandbox s;
  const fs::path victim = s.base / "victim.txt";
  std::ofstream(victim) << "precious";
  // The old temporary name and the final name, both planted as links to a file outside the root.
  fs::create_symlink(victim, s.root / "job.png.part");
  fs::create_symlink(victim, s.root / "job.png");
  std::ofstream(s.root / "job-1.png") << "an earlier result";
  const auto path = s.write("job");
  EXPECT_EQ(fs::path(path).filename(), "job-2.png");
  EXPECT_EQ(slurp(victim), "precious");
  EXPECT_EQ(slurp(s.root / "job-1.png"), "an earlier result");
  EXPECT_TRUE(fs::is_symlink(s.root / "job.png"));
  EXPECT_EQ(slurp(path).substr(1, 3), "PNG");
  // No temporary is left behind.
  for (const auto& entry : fs::directory_iterator(s.root)) {
    if (entry.is_symlink()) continue;  // the planted ones
    EXPECT_EQ(entry.path().filename().string().find(".XXXXXX"), std::string::npos);
    EXPECT_NE(entry.path().extension(), ".part") << entry.path();
  }
}

TEST(OutputFiles, PerImageSeedsGoToTheirImages) {
  Sandbox s;
  AssetOptions options;
  options.name = "batch";
  const nlohmann::json meta = {{"seed", 41}, {"seeds", {41, 42}}, {"batch_size", 2}, {"steps", 3}};
  const auto assets = AssetWriter(s.root.string()).write({solid(1), solid(2)}, meta, options);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(assets[i]["metadata"]["seed"], 41 + i);
    EXPECT_EQ(assets[i]["metadata"]["batch_size"], 1);  // each image was a run of one
    EXPECT_FALSE(assets[i]["metadata"].contains("seeds"));
  }
}

}  // namespace
}  // namespace workers
