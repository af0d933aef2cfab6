// Keeps every stdout line `sdxl-workers serve` writes in an e2e test, for the schema check
// (tests/communication/validate_schemas.py, CTest SchemaValidation.ServeOutput).
#pragma once

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace e2e {

// Appends `lines` to SDXL_SERVE_OUTPUT_DIR/<suite>.<test>.jsonl. One file per test, because CTest
// runs each test in a process of its own: a test's first write truncates its file, and the
// SchemaValidation.CleanServeOutput fixture empties the folder before a CTest run. Callable from
// any thread while a test runs (a reader thread of the child's stdout, say).
inline void capture_serve_output(const std::vector<std::string>& lines) {
  static std::mutex mutex;
  static std::set<std::string> started;  // the files this process has truncated
  const auto* test = testing::UnitTest::GetInstance()->current_test_info();
  if (!test) return;
  const std::string folder = SDXL_SERVE_OUTPUT_DIR;
  const std::string path = folder + "/" + test->test_suite_name() + "." + test->name() + ".jsonl";
  std::lock_guard<std::mutex> lock(mutex);
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  std::ofstream out(path, started.insert(path).second ? std::ios::trunc : std::ios::app);
  for (const auto& line : lines) out << line << '\n';
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

}  // namespace e2e
