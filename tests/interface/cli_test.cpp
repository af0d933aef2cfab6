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
  for (const char* c : {"serve", "status", "config", "inspect", "convert", "tokenize TEXT"}) {
    EXPECT_NE(cli_usage().find(c), std::string::npos);
  }
}

TEST(Cli, ModelCommandsTakeTheirFlagsAndNeedTheRequiredOnes) {
  auto o = parse_cli({"convert", "--model", "a.safetensors", "--output=out", "--dtype", "fp32"});
  EXPECT_TRUE(o.errors.empty()) << o.errors.front();
  EXPECT_EQ(o.value("model"), "a.safetensors");
  EXPECT_EQ(o.value("output"), "out");
  EXPECT_EQ(o.value("dtype"), "fp32");
  EXPECT_EQ(o.value("tokenizers", "none"), "none");
  EXPECT_EQ(parse_cli({"convert", "--model", "a"}).errors, std::vector<std::string>{"convert needs --output"});
  EXPECT_EQ(parse_cli({"serve", "--model", "a"}).errors, std::vector<std::string>{"--model does not apply to serve"});
  EXPECT_TRUE(parse_cli({"inspect", "--model", "m", "--config-from", "d"}).errors.empty());
}

TEST(Cli, TokenizeTakesTextWordsAndOnlyTokenizeDoes) {
  auto o = parse_cli({"tokenize", "--model", "m", "a", "photo", "--tokenizer", "2", "--max-length=0"});
  EXPECT_TRUE(o.errors.empty());
  EXPECT_EQ(o.arguments, (std::vector<std::string>{"a", "photo"}));
  EXPECT_EQ(o.value("tokenizer"), "2");
  EXPECT_EQ(o.value("max-length"), "0");
  EXPECT_EQ(parse_cli({"tokenize", "--model", "m"}).errors, std::vector<std::string>{"tokenize needs TEXT"});
  EXPECT_EQ(parse_cli({"status", "extra"}).errors, std::vector<std::string>{"unexpected argument extra"});
  EXPECT_EQ(parse_cli({"inspect", "--model", "m", "--tokenizer", "1"}).errors,
            std::vector<std::string>{"--tokenizer does not apply to inspect"});
}

}  // namespace
}  // namespace workers
