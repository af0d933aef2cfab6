#include "utilities/path_roots.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "support/errors.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

TEST(PathRoots, ResolvesFilesInsideAndRefusesEscapes) {
  const fs::path base = fs::path(testing::TempDir()) / ("roots_" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "root" / "sub");
  fs::create_directories(base / "outside");
  std::ofstream(base / "root" / "sub" / "a.png") << "x";
  std::ofstream(base / "outside" / "secret.png") << "x";
  fs::create_symlink(base / "outside" / "secret.png", base / "root" / "link.png");
  const auto roots = canonical_roots({(base / "root").string()});
  const auto expected = fs::canonical(base / "root" / "sub" / "a.png").string();
  EXPECT_EQ(resolve_input_file(roots, "sub/a.png", "init_image", "setting"), expected);
  EXPECT_EQ(resolve_input_file(roots, expected, "init_image", "setting"), expected);
  const std::vector<std::string> bad_references = {"../outside/secret.png", (base / "outside" / "secret.png").string(),
                                                   "link.png", "sub/missing.png", ""};
  for (const auto& bad : bad_references) {
    const auto e = testing_support::catch_error([&] { resolve_input_file(roots, bad, "init_image", "setting"); });
    EXPECT_EQ(e.field, "init_image") << bad;
  }
  const auto none = testing_support::catch_error([&] { resolve_input_file({}, "a.png", "mask_image", "the.setting"); });
  EXPECT_NE(none.message.find("the.setting"), std::string::npos);
  EXPECT_TRUE(path_inside("/a/b/c", "/a/b"));
  EXPECT_FALSE(path_inside("/a/bc", "/a/b"));
  fs::remove_all(base);
}

}  // namespace
}  // namespace workers
