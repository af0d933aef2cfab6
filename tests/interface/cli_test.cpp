#include "interface/cli.h"
#include "interface/generate_command.h"
#include "utilities/error.h"

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

namespace workers {
namespace {

TEST(GenerateCommand, FlagsBecomeOneCanonicalRequestWithTheFilesFoldersAsRoots) {
  auto o = parse_cli({"generate", "--model", "/models/base.safetensors", "--prompt", "a fox", "--output",
                      "/out/fox.webp", "--steps", "12", "--guidance", "6.5", "--karras", "--scheduler", "DPM++ 2M",
                      "--seed", "7", "--batch", "2", "--refiner", "/refiners/ref", "--refiner-switch", "0.75",
                      "--original-size", "1024,768", "--crop-top-left", "0,16", "--width", "512"});
  ASSERT_TRUE(o.errors.empty()) << o.errors.front();
  WorkersConfig config;
  auto r = generate_request(o, config);
  EXPECT_EQ(r["model"]["base"], "base.safetensors");
  EXPECT_EQ(r["model"]["refiner"], "ref");
  EXPECT_EQ(config.model.model_roots, (std::vector<std::string>{"/models", "/refiners"}));
  EXPECT_EQ(config.postprocessing.output_root, "/out");
  EXPECT_EQ(r["request_id"], "fox");
  EXPECT_EQ(r["output_format"], "webp");
  EXPECT_EQ(r["steps"], 12);
  EXPECT_EQ(r["guidance_scale"], 6.5);
  EXPECT_EQ(r["scheduler_options"]["use_karras_sigmas"], true);
  EXPECT_EQ(r["seed"], 7);
  EXPECT_EQ(r["batch_size"], 2);
  EXPECT_EQ(r["denoising_end"], 0.75);
  EXPECT_EQ(r["original_size"], nlohmann::json({1024, 768}));
  EXPECT_EQ(r["crops_coords_top_left"], nlohmann::json({0, 16}));
  EXPECT_EQ(r["width"], 512);
  EXPECT_EQ(r["height"], 512);  // --width alone gives a square
}

// A shell's completion adds a slash to folders; a VAE inside the model folder is named by its
// path, so a vae.safetensors beside the model (also a root now) cannot be taken instead.
TEST(GenerateCommand, FolderPathsWithTrailingSlashesAndVaeSubfolders) {
  auto o = parse_cli({"generate", "--model", "/models/tiny/", "--vae", "/models/tiny/vae/", "--prompt", "p",
                      "--output", "/out/a.png", "--width", "64"});
  ASSERT_TRUE(o.errors.empty()) << o.errors.front();
  WorkersConfig config;
  auto r = generate_request(o, config);
  EXPECT_EQ(r["model"]["base"], "tiny");
  EXPECT_EQ(r["model"]["vae"], "/models/tiny/vae");
  EXPECT_EQ(config.model.model_roots, (std::vector<std::string>{"/models", "/models/tiny"}));
}

TEST(GenerateCommand, BadValuesNameTheFlag) {
  WorkersConfig config;
  auto base = std::vector<std::string>{"generate", "--model", "m", "--prompt", "p", "--output", "o.png"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return parse_cli(args);
  };
  auto field = [&](std::vector<std::string> extra) {
    try {
      generate_request(with(extra), config);
    } catch (const Error& e) {
      return e.field();
    }
    return std::string("no error");
  };
  EXPECT_EQ(field({"--steps", "many"}), "--steps");
  EXPECT_EQ(field({"--guidance", "5x"}), "--guidance");
  EXPECT_EQ(field({"--original-size", "1024"}), "--original-size");
  EXPECT_EQ(field({"--init-image", "/nonexistent/in.png"}), "--init-image");
  auto png = parse_cli({"generate", "--model", "m", "--prompt", "p", "--output", "o.gif"});
  EXPECT_THROW(generate_request(png, config), Error);
  EXPECT_EQ(parse_cli({"generate", "--model", "m", "--prompt", "p"}).errors,
            std::vector<std::string>{"generate needs --output"});
  EXPECT_EQ(with({"--karras=yes"}).errors, std::vector<std::string>{"--karras takes no value"});
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(GenerateCommand, MaxMemoryBecomesTheDeviceBudget) {
  auto o = parse_cli({"generate", "--model", "/models/base.safetensors", "--prompt", "a fox", "--output", "/out/fox.png",
                      "--max-memory", "8GB"});
  ASSERT_TRUE(o.errors.empty()) << o.errors.front();
  WorkersConfig config;
  generate_request(o, config);
  EXPECT_EQ(config.device.max_memory, 8ull << 30);
  auto bad = parse_cli({"generate", "--model", "/models/base.safetensors", "--prompt", "a fox", "--output",
                        "/out/fox.png", "--max-memory", "lots"});
  ASSERT_TRUE(bad.errors.empty());
  try {
    generate_request(bad, config);
    ADD_FAILURE() << "--max-memory lots was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "--max-memory");
    EXPECT_NE(std::string(e.what()).find("8GB"), std::string::npos);
  }
}

}  // namespace
}  // namespace workers
