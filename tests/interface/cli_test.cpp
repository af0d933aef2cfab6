#include "interface/cli.h"

#include <gtest/gtest.h>

namespace workers {
namespace {

TEST(Cli, ParsesCommandAndConfig) {
  auto o = parse_cli({"serve", "--config", "w.json"});
  EXPECT_EQ(o.command, "serve");
  EXPECT_EQ(o.config, "w.json");
  EXPECT_TRUE(o.errors.empty());
  EXPECT_EQ(parse_cli({"status", "--config=x.json"}).config, "x.json");
}

TEST(Cli, DefaultsToHelpAndReportsMistakes) {
  EXPECT_EQ(parse_cli({}).command, "help");
  EXPECT_EQ(parse_cli({"--version"}).command, "version");
  EXPECT_EQ(parse_cli({"serve", "--config"}).errors.size(), 1u);
  EXPECT_EQ(parse_cli({"paint"}).errors.size(), 1u);
  EXPECT_EQ(parse_cli({"serve", "--fast"}).errors.size(), 1u);
  EXPECT_EQ(parse_cli({"serve", "extra"}).errors.size(), 1u);
}

TEST(Cli, UsageListsEveryCommand) {
  for (const char* c : {"serve", "status", "config"}) EXPECT_NE(cli_usage().find(c), std::string::npos);
}

}  // namespace
}  // namespace workers
