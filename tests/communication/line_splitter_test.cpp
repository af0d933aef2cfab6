#include "communication/line_splitter.h"

#include <gtest/gtest.h>

namespace workers {
namespace {

struct Collector {
  std::vector<std::string> lines;
  std::vector<std::size_t> overflows;
  LineSplitter splitter(std::size_t cap) {
    return LineSplitter(
        cap, [this](std::string_view l) { lines.emplace_back(l); }, [this](std::size_t n) { overflows.push_back(n); });
  }
};

TEST(LineSplitter, SplitsAcrossChunkBoundaries) {
  Collector c;
  auto s = c.splitter(100);
  s.feed("{\"a\":1}\n{\"b\"");
  s.feed(":2}\r\n\n  \n{\"c\":3}");
  s.finish();
  EXPECT_EQ(c.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
}

TEST(LineSplitter, OverlongLineIsReportedOnceAndSkipped) {
  Collector c;
  auto s = c.splitter(8);
  s.feed("0123456");
  s.feed("789abcdef");
  s.feed("ghij\nok\n");
  EXPECT_EQ(c.overflows.size(), 1u);
  EXPECT_EQ(c.lines, std::vector<std::string>{"ok"});
}

TEST(LineSplitter, LineOfExactlyTheCapIsKept) {
  Collector c;
  auto s = c.splitter(4);
  s.feed("abcd\nabcde\n");
  EXPECT_EQ(c.lines, std::vector<std::string>{"abcd"});
  EXPECT_EQ(c.overflows.size(), 1u);
}

}  // namespace
}  // namespace workers
