#include <gtest/gtest.h>

#include "compat/adapter_shorthand.h"
#include "compat/enhanced_sdxl_format.h"
#include "compat/envelope_format.h"
#include "compat/flat_seed_format.h"
#include "utilities/error.h"

namespace workers::compat {
namespace {

const nlohmann::json kFlat = nlohmann::json::parse(R"({
  "request_id": "r1", "model_id": "sdxl-base", "prompt": "a cat", "negative_prompt": "blurry",
  "width": 832, "height": 1216, "num_inference_steps": 25, "guidance_scale": 6.5,
  "scheduler": "DPM++ 2M Karras", "seed": 7,
  "lora": {"enabled": true, "adapters": [{"model_id": "style", "weight": 0.8}, {"model_id": "detail", "weight": 0.3}]}
})");

TEST(FlatSeedFormat, MapsSeedNamesOntoCanonicalOnes) {
  FlatSeedFormat format;
  ASSERT_TRUE(format.recognizes(kFlat));
  auto t = format.translate(kFlat);
  const auto& m = t.message;
  EXPECT_EQ(m["message_type"], "inference_request");
  EXPECT_EQ(m["model"]["base"], "sdxl-base");
  EXPECT_EQ(m["steps"], 25);
  EXPECT_EQ(m["prompt"], "a cat");
  EXPECT_EQ(m["loras"][1]["name"], "detail");
  EXPECT_EQ(m["loras"][1]["enabled"], true);
  EXPECT_EQ(t.field_origin.at("steps"), "num_inference_steps");
  EXPECT_EQ(t.field_origin.at("model.base"), "model_id");
}

TEST(FlatSeedFormat, DisabledLoraBlockDisablesEveryAdapter) {
  auto flat = kFlat;
  flat["lora"]["enabled"] = false;
  auto m = FlatSeedFormat().translate(flat).message;
  EXPECT_EQ(m["loras"][0]["enabled"], false);
  EXPECT_EQ(m["loras"][1]["enabled"], false);
}

TEST(FlatSeedFormat, BadLoraBlockNamesTheSeedField) {
  auto flat = kFlat;
  flat["lora"]["adapters"] = 3;
  try {
    FlatSeedFormat().translate(flat);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "lora.adapters");
  }
}

TEST(EnvelopeFormat, OperationPicksTheMessageTypeAndDataIsFlat) {
  auto envelope = nlohmann::json{{"request_id", "env-1"}, {"worker_type", "inference"},
                                 {"operation", "generate"}, {"data", kFlat}};
  envelope["data"].erase("request_id");
  EnvelopeFormat format;
  ASSERT_TRUE(format.recognizes(envelope));
  auto t = format.translate(envelope);
  EXPECT_EQ(t.message["message_type"], "inference_request");
  EXPECT_EQ(t.message["request_id"], "env-1");
  EXPECT_EQ(t.message["steps"], 25);
  EXPECT_EQ(t.field_origin.at("steps"), "data.num_inference_steps");
}

TEST(EnvelopeFormat, MapsControlOperations) {
  EnvelopeFormat format;
  auto status = format.translate({{"request_id", "s"}, {"operation", "STATUS"}});
  EXPECT_EQ(status.message["message_type"], "status_request");
  auto load = format.translate({{"operation", "load_model"}, {"data", {{"model_id", "sdxl"}}}});
  EXPECT_EQ(load.message["message_type"], "model_load_request");
  EXPECT_EQ(load.message["model"], "sdxl");
}

TEST(EnvelopeFormat, UnknownOperationListsTheKnownOnes) {
  try {
    EnvelopeFormat().translate({{"operation", "paint"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "operation");
    EXPECT_NE(std::string(e.what()).find("txt2img"), std::string::npos);
  }
}

const nlohmann::json kEnhanced = nlohmann::json::parse(R"({
  "action": "generate_sdxl_enhanced", "request_id": "cs-1",
  "Model": {"Base": "sdxl-base", "Refiner": "sdxl-refiner", "Vae": "fixed-vae"},
  "Scheduler": {"Type": "Euler a", "Steps": 30},
  "Hyperparameters": {"GuidanceScale": 7.0, "Seed": 99, "Width": 1024, "Height": 768},
  "Conditioning": {"Prompt": "a castle", "NegativePrompt": "lowres",
                   "LoRAs": [{"Name": "style", "Weight": 0.6}, "detail:0.2"],
                   "ControlNets": [{"Type": "canny", "Image": "edges.png", "Scale": 0.7, "End": 0.8}]},
  "Output": {"Format": "webp"}
})");

TEST(EnhancedSdxlFormat, MapsPascalCaseSections) {
  EnhancedSdxlFormat format;
  ASSERT_TRUE(format.recognizes(kEnhanced));
  auto t = format.translate(kEnhanced);
  const auto& m = t.message;
  EXPECT_EQ(m["request_id"], "cs-1");
  EXPECT_EQ(m["model"]["refiner"], "sdxl-refiner");
  EXPECT_EQ(m["scheduler"], "Euler a");
  EXPECT_EQ(m["steps"], 30);
  EXPECT_EQ(m["seed"], 99);
  EXPECT_EQ(m["height"], 768);
  EXPECT_EQ(m["negative_prompt"], "lowres");
  EXPECT_EQ(m["loras"][0]["name"], "style");
  EXPECT_EQ(m["loras"][1], "detail:0.2");
  EXPECT_EQ(m["controlnets"][0]["type"], "canny");
  EXPECT_EQ(m["output_format"], "webp");
  EXPECT_EQ(t.field_origin.at("steps"), "Scheduler.Steps");
}

TEST(EnhancedSdxlFormat, AcceptsCamelCaseAndDataWrapper) {
  auto wrapped = nlohmann::json{{"action", "generate_sdxl_enhanced"},
                                {"data", {{"model", {{"base", "m"}}}, {"scheduler", {{"steps", 12}}}}}};
  auto t = EnhancedSdxlFormat().translate(wrapped);
  EXPECT_EQ(t.message["model"]["base"], "m");
  EXPECT_EQ(t.message["steps"], 12);
  EXPECT_EQ(t.field_origin.at("steps"), "data.scheduler.steps");
}

TEST(AdapterShorthand, SplitsNameAndWeight) {
  auto a = parse_adapter_shorthand("style_lora:0.8", "loras[0]");
  EXPECT_EQ(a.name, "style_lora");
  EXPECT_DOUBLE_EQ(a.weight, 0.8);
  EXPECT_TRUE(a.has_weight);
  auto b = parse_adapter_shorthand("canny", "controlnets[0]");
  EXPECT_EQ(b.name, "canny");
  EXPECT_DOUBLE_EQ(b.weight, 1.0);
  EXPECT_FALSE(b.has_weight);
}

TEST(AdapterShorthand, KeepsColonsThatAreNotWeights) {
  EXPECT_EQ(parse_adapter_shorthand("C:\\loras\\a.safetensors", "l").name, "C:\\loras\\a.safetensors");
  auto w = parse_adapter_shorthand("C:\\loras\\a.safetensors:-0.5", "l");
  EXPECT_EQ(w.name, "C:\\loras\\a.safetensors");
  EXPECT_DOUBLE_EQ(w.weight, -0.5);
  EXPECT_EQ(parse_adapter_shorthand(" style : 1.2 ", "l").name, "style");
}

TEST(AdapterShorthand, EmptyNameIsAnError) {
  EXPECT_THROW(parse_adapter_shorthand(":0.8", "loras[2]"), Error);
  EXPECT_THROW(parse_adapter_shorthand("   ", "loras[2]"), Error);
}

TEST(Registry, EachFormatIsRecognisedByExactlyOneTranslator) {
  auto translators = default_translators();
  for (const auto& message : {kFlat, kEnhanced,
                              nlohmann::json{{"operation", "status"}}}) {
    int matches = 0;
    for (const auto& t : translators) matches += t->recognizes(message) ? 1 : 0;
    EXPECT_EQ(matches, 1) << message.dump();
  }
  nlohmann::json canonical = {{"message_type", "status_request"}};
  for (const auto& t : translators) EXPECT_FALSE(t->recognizes(canonical));
}

}  // namespace
}  // namespace workers::compat

namespace workers::compat {
namespace {

TEST(FlatSeedFormat, DisabledBlockAlsoDisablesShorthandAdapters) {
  auto m = FlatSeedFormat()
               .translate({{"model_id", "m"}, {"lora", {{"enabled", false}, {"adapters", {"style:0.5"}}}}})
               .message;
  EXPECT_EQ(m["loras"][0]["name"], "style");
  EXPECT_EQ(m["loras"][0]["enabled"], false);
}

TEST(EnhancedSdxlFormat, WarnsAboutEveryFieldItDoesNotMap) {
  auto t = EnhancedSdxlFormat().translate(nlohmann::json::parse(R"({
    "action": "generate_sdxl_enhanced", "Model": {"Base": "m", "Unet": "x"}, "Extra": 1,
    "Hyperparameters": {"Width": 512}, "Output": {"Width": 768},
    "Conditioning": {"LoRAs": [{"Name": "s", "Strength": 2}]}})"));
  std::string all;
  for (const auto& w : t.warnings) all += w + "\n";
  EXPECT_NE(all.find("Model.Unet"), std::string::npos) << all;
  EXPECT_NE(all.find("Extra"), std::string::npos) << all;
  EXPECT_NE(all.find("Conditioning.LoRAs[0].Strength"), std::string::npos) << all;
  EXPECT_NE(all.find("Output.Width overrides Hyperparameters.Width"), std::string::npos) << all;
  EXPECT_EQ(t.message["width"], 768);
}

TEST(EnhancedSdxlFormat, RecognisesCamelCasePayloads) {
  EXPECT_TRUE(EnhancedSdxlFormat().recognizes({{"conditioning", {{"prompt", "x"}}}, {"model_id", "m"}}));
}

}  // namespace
}  // namespace workers::compat

namespace workers::compat {
namespace {

// Found by fuzz_message_decoder: a sender's key that looks like a JSON pointer was followed as
// one, so "/a/111111111" built a 111-million-element array.
TEST(FlatSeedFormat, KeysAreLiteralNeverPaths) {
  auto t = FlatSeedFormat().translate({{"model_id", "m"}, {"/a/111111111", 1}});
  EXPECT_EQ(t.message["/a/111111111"], 1);
  EXPECT_FALSE(t.message.contains("a"));
}

}  // namespace
}  // namespace workers::compat
