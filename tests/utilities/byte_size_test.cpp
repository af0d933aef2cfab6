#include "utilities/byte_size.h"

#include <random>

#include <gtest/gtest.h>

#include "utilities/memory_probe.h"

namespace workers {
namespace {

TEST(ByteSize, ParsesNumbersAndUnitsInPowersOf1024) {
  EXPECT_EQ(parse_byte_size("0"), 0u);
  EXPECT_EQ(parse_byte_size("1234"), 1234u);
  EXPECT_EQ(parse_byte_size("1234 B"), 1234u);
  EXPECT_EQ(parse_byte_size("8GB"), 8ull << 30);
  EXPECT_EQ(parse_byte_size("8gib"), 8ull << 30);
  EXPECT_EQ(parse_byte_size(" 8 G "), 8ull << 30);
  EXPECT_EQ(parse_byte_size("1.5K"), 1536u);
  EXPECT_EQ(parse_byte_size("2TB"), 2ull << 40);
  EXPECT_EQ(parse_byte_size("0.5MiB"), 512ull << 10);
  for (const char* bad : {"", " ", "GB", "-1", "8 PB", "8 GBs", "1.2.3", "8GB x", "1e9", ".", "0x10", "99999999999T"}) {
    EXPECT_FALSE(parse_byte_size(bad).has_value()) << bad;
  }
}

TEST(ByteSize, FormatsForPeople) {
  EXPECT_EQ(format_bytes(900), "900 B");
  EXPECT_EQ(format_bytes(8ull << 30), "8.00 GiB");
  EXPECT_EQ(format_bytes(12ull << 30), "12.0 GiB");
  EXPECT_EQ(format_bytes(512ull << 20), "512 MiB");
}

// Random text never crashes the parser; what it accepts formats and parses back within rounding.
TEST(ByteSize, RandomInputIsAnsweredNotFatal) {
  std::mt19937 rng(3);
  const std::string alphabet = "0123456789. kKmMgGtTiIbBx-e";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    for (int n = static_cast<int>(rng() % 12); n > 0; --n) text += alphabet[rng() % alphabet.size()];
    const auto bytes = parse_byte_size(text);
    if (bytes && *bytes > 0 && *bytes < (1ull << 50)) {
      const auto back = parse_byte_size(format_bytes(*bytes));
      ASSERT_TRUE(back.has_value()) << text;
      EXPECT_NEAR(static_cast<double>(*back), static_cast<double>(*bytes), static_cast<double>(*bytes) * 0.01) << text;
    }
  }
}

TEST(MemoryProbe, ReadsKibFieldsOfProcFiles) {
  const std::string status = "Name:\tsdxl\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
  EXPECT_EQ(proc_kib_field(status, "VmRSS"), 1024u * 1024);
  EXPECT_EQ(proc_kib_field(status, "VmHWM"), 2048u * 1024);
  EXPECT_EQ(proc_kib_field(status, "VmSwap"), 0u);
  EXPECT_EQ(proc_kib_field("XMemAvailable: 5 kB\nMemAvailable: 7 kB\n", "MemAvailable"), 7u * 1024);
  const auto now = ProcessMemoryProbe().sample();
  EXPECT_GT(now.used, 0u);
  EXPECT_GE(now.peak, now.used);
  EXPECT_GT(now.system_available, 0u);
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(ByteSize, NumbersPastDoublesRangeAreNoSize) {  // found by fuzz_byte_size: stod threw out_of_range
  EXPECT_FALSE(parse_byte_size(std::string(400, '9')).has_value());
  EXPECT_FALSE(parse_byte_size(std::string(400, '9') + "GB").has_value());
}

}  // namespace
}  // namespace workers
