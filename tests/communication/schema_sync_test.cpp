// The published JSON Schema must describe exactly the fields the decoder reads.
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "communication/message_decoder.h"

namespace workers {
namespace {

nlohmann::json load_schema(const std::string& name) {
  std::ifstream in(std::string(SDXL_SOURCE_DIR) + "/communication/schemas/" + name);
  EXPECT_TRUE(in.good()) << name;
  return nlohmann::json::parse(in);
}

TEST(SchemaSync, InferenceSchemaListsExactlyTheCanonicalFields) {
  GenerationRequest full;
  full.prompt_2 = full.negative_prompt_2 = full.init_image = full.mask_image = "x";
  full.strength = full.denoising_end = 0.5;
  full.original_size = full.target_size = SizePair{1, 1};
  full.negative_original_size = full.negative_target_size = full.negative_crops_coords_top_left = SizePair{1, 1};
  full.clip_skip = 1;
  full.timeout_seconds = 1;
  full.hires = HiresFix{};
  full.postprocess.upscale = UpscaleSpec{"x"};
  std::set<std::string> canonical{"message_type"};
  const auto full_json = to_json(full);
  for (const auto& [key, value] : full_json.items()) canonical.insert(key);
  std::set<std::string> schema;
  const auto properties = load_schema("inference_request.schema.json")["properties"];
  for (const auto& [key, value] : properties.items()) schema.insert(key);
  EXPECT_EQ(schema, canonical);
}

TEST(SchemaSync, EverySchemaPropertyIsReadWithoutAnUnknownFieldWarning) {
  nlohmann::json message = {{"request_id", "s"}, {"message_type", "inference_request"}, {"model", "m"}};
  auto decoded = MessageDecoder(compat::default_translators(), RequestLimits{}).decode(message);
  ASSERT_FALSE(decoded.error);
  const auto properties = load_schema("inference_request.schema.json")["properties"];
  for (const auto& [key, value] : properties.items()) {
    if (key == "message_type" || key == "request_id" || key == "model") continue;  // required ones
    nlohmann::json probe = message;
    probe[key] = nullptr;  // null reads as absent, but the field is still known
    auto result = MessageDecoder(compat::default_translators(), RequestLimits{}).decode(probe);
    ASSERT_FALSE(result.error) << key << ": " << result.error->what();
    EXPECT_TRUE(result.warnings.empty()) << key << " is in the schema but unknown to the parser";
  }
}

TEST(SchemaSync, EverySchemaFileIsAnObjectWithIdAndDialect) {
  for (const char* name : {"inference_request", "postprocess_request", "model_load_request", "model_unload_request", "status_request",
                           "cancel_request", "shutdown", "response", "progress_event"}) {
    auto schema = load_schema(std::string(name) + ".schema.json");
    EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema") << name;
    EXPECT_EQ(schema["$id"], "https://sdxl-workers.invalid/schemas/" + std::string(name) + ".schema.json")
        << name;
  }
}

}  // namespace
}  // namespace workers
