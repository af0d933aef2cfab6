#include "communication/message_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/mock_request_translator.h"

namespace workers {
namespace {

MessageDecoder decoder() { return MessageDecoder(compat::default_translators(), RequestLimits{}); }

const char* kCanonical = R"({
  "request_id": "r1", "message_type": "inference_request",
  "model": {"base": "sdxl-base"}, "prompt": "a cat", "negative_prompt": "blurry",
  "width": 832, "height": 1216, "steps": 25, "guidance_scale": 6.5,
  "scheduler": "DPM++ 2M Karras", "seed": 7,
  "loras": [{"name": "style", "weight": 0.8}, "detail:0.3"]
})";

GenerationRequest decode_ok(const std::string& line) {
  auto result = decoder().decode_line(line);
  EXPECT_FALSE(result.error) << result.error->what();
  EXPECT_TRUE(result.message && result.message->generation);
  return *result.message->generation;
}

TEST(MessageDecoder, ParsesCanonicalInferenceRequest) {
  auto g = decode_ok(kCanonical);
  EXPECT_EQ(g.request_id, "r1");
  EXPECT_EQ(g.model.base, "sdxl-base");
  EXPECT_EQ(g.width, 832);
  EXPECT_EQ(g.steps, 25);
  ASSERT_TRUE(g.seed);
  EXPECT_EQ(*g.seed, 7u);
  ASSERT_EQ(g.loras.size(), 2u);
  EXPECT_EQ(g.loras[1].name, "detail");
  EXPECT_DOUBLE_EQ(g.loras[1].weight, 0.3);
}

TEST(MessageDecoder, EveryLegacyFormatGivesTheCanonicalRequest) {
  const auto expected = to_json(decode_ok(kCanonical));
  const std::string flat = R"({"request_id": "r1", "model_id": "sdxl-base", "prompt": "a cat",
    "negative_prompt": "blurry", "width": 832, "height": 1216, "num_inference_steps": 25,
    "guidance_scale": 6.5, "scheduler": "DPM++ 2M Karras", "seed": 7,
    "lora": {"enabled": true, "adapters": [{"model_id": "style", "weight": 0.8}, {"model_id": "detail", "weight": 0.3}]}})";
  const std::string envelope = R"({"request_id": "r1", "worker_type": "inference", "operation": "txt2img",
    "data": {"model_id": "sdxl-base", "prompt": "a cat", "negative_prompt": "blurry", "width": 832,
    "height": 1216, "num_inference_steps": 25, "guidance_scale": 6.5, "scheduler": "DPM++ 2M Karras",
    "seed": 7, "loras": ["style:0.8", "detail:0.3"]}})";
  const std::string enhanced = R"({"action": "generate_sdxl_enhanced", "request_id": "r1",
    "Model": {"Base": "sdxl-base"}, "Scheduler": {"Type": "DPM++ 2M Karras", "Steps": 25},
    "Hyperparameters": {"GuidanceScale": 6.5, "Seed": 7, "Width": 832, "Height": 1216},
    "Conditioning": {"Prompt": "a cat", "NegativePrompt": "blurry",
                     "LoRAs": [{"Name": "style", "Weight": 0.8}, {"Path": "detail", "Weight": 0.3}]}})";
  for (const auto& line : {flat, envelope, enhanced}) {
    EXPECT_EQ(to_json(decode_ok(line)), expected) << line;
  }
}

TEST(MessageDecoder, LegacyErrorsNameTheSendersField) {
  auto result = decoder().decode_line(R"({"action":"generate_sdxl_enhanced","Model":{"Base":"m"},
                                          "Scheduler":{"Steps":0}})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "Scheduler.Steps");
  EXPECT_EQ(std::string(result.error->what()).rfind("Scheduler.Steps:", 0), 0u) << result.error->what();
}

TEST(MessageDecoder, MalformedJsonIsAnInvalidRequestWithoutId) {
  auto result = decoder().decode_line("not json");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->code(), ErrorCode::kInvalidRequest);
  EXPECT_EQ(result.request_id, "");
}

TEST(MessageDecoder, ErrorKeepsTheRequestId) {
  auto result = decoder().decode_line(R"({"request_id":"x9","message_type":"inference_request","model":"m","width":"big"})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.request_id, "x9");
  EXPECT_EQ(result.error->field(), "width");
}

TEST(MessageDecoder, UnknownAndMissingTypesListTheValidOnes) {
  auto unknown = decoder().decode_line(R"({"request_id":"a","message_type":"paint_request"})");
  ASSERT_TRUE(unknown.error);
  EXPECT_EQ(unknown.error->field(), "message_type");
  EXPECT_NE(std::string(unknown.error->what()).find("status_request"), std::string::npos);
  auto missing = decoder().decode_line(R"({"request_id":"a"})");
  ASSERT_TRUE(missing.error);
  EXPECT_EQ(missing.error->field(), "message_type");
}

TEST(MessageDecoder, GeneratesRequestIdsWhenAbsentAndAcceptsIntegers) {
  auto d = decoder();
  auto a = d.decode_line(R"({"message_type":"status_request"})");
  auto b = d.decode_line(R"({"message_type":"status_request"})");
  EXPECT_EQ(a.request_id, "auto-1");
  EXPECT_EQ(b.request_id, "auto-2");
  EXPECT_EQ(d.decode_line(R"({"request_id":42,"message_type":"status_request"})").request_id, "42");
  EXPECT_TRUE(d.decode_line(R"({"request_id":[1],"message_type":"status_request"})").error);
}

TEST(MessageDecoder, UnknownFieldsAreWarningsNotErrors) {
  auto result = decoder().decode_line(R"({"request_id":"a","message_type":"inference_request","model":"m","sampler":"x"})");
  ASSERT_FALSE(result.error);
  ASSERT_EQ(result.message->warnings.size(), 1u);
  EXPECT_NE(result.message->warnings[0].find("sampler"), std::string::npos);
}

TEST(MessageDecoder, CancelAndModelMessagesNeedTheirTargets) {
  auto d = decoder();
  auto cancel = d.decode_line(R"({"request_id":"c","message_type":"cancel_request","target_request_id":"r1"})");
  ASSERT_FALSE(cancel.error);
  EXPECT_EQ(cancel.message->cancel_target, "r1");
  EXPECT_EQ(d.decode_line(R"({"request_id":"c","message_type":"cancel_request"})").error->field(),
            "target_request_id");
  auto load = d.decode_line(R"({"request_id":"l","message_type":"model_load_request","model":"sdxl","component":"vae"})");
  ASSERT_FALSE(load.error);
  EXPECT_EQ(load.message->model.component, "vae");
  EXPECT_EQ(d.decode_line(R"({"request_id":"l","message_type":"model_load_request","model":"x","component":"gpu"})")
                .error->field(),
            "component");
}

TEST(MessageDecoder, SeedMinusOneMeansRandom) {
  auto g = decode_ok(R"({"request_id":"s","message_type":"inference_request","model":"m","seed":-1})");
  EXPECT_FALSE(g.seed.has_value());
  auto bad = decoder().decode_line(R"({"request_id":"s","message_type":"inference_request","model":"m","seed":-2})");
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->field(), "seed");
}

TEST(MessageDecoder, ControlNetShorthandAndObjects) {
  auto g = decode_ok(R"({"request_id":"c","message_type":"inference_request","model":"m",
                         "controlnets":["canny:0.8",{"type":"depth","image":"d.png","end":0.5}]})");
  ASSERT_EQ(g.controlnets.size(), 2u);
  EXPECT_EQ(g.controlnets[0].type, "canny");
  EXPECT_DOUBLE_EQ(g.controlnets[0].scale, 0.8);
  EXPECT_DOUBLE_EQ(g.controlnets[1].end, 0.5);
  auto bad = decoder().decode_line(R"({"request_id":"c","message_type":"inference_request","model":"m",
                                        "controlnets":[{"type":"canny","strength":2}]})");
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->field(), "controlnets[0].strength");
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(MessageDecoder, ListErrorsInLegacyFormatsUseTheSendersPrefix) {
  auto result = decoder().decode_line(R"({"action":"generate_sdxl_enhanced","Model":{"Base":"m"},
      "Conditioning":{"LoRAs":[{"Name":"s","Weight":"heavy"}]}})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "Conditioning.LoRAs[0].weight");
}

TEST(MessageDecoder, ErrorsAfterTheTypeIsKnownCarryItsResponseType) {
  auto d = decoder();
  EXPECT_EQ(d.decode_line(R"({"request_id":"a","message_type":"inference_request","model":"m","width":3})")
                .response_type,
            "inference_response");
  EXPECT_EQ(d.decode_line("[]").response_type, "");
}

TEST(MessageDecoder, CancelTargetMayBeAnInteger) {
  auto r = decoder().decode_line(R"({"request_id":"c","message_type":"cancel_request","target_request_id":17})");
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.message->cancel_target, "17");
}

TEST(MessageDecoder, PairsAcceptWholeFloatsAndRejectFractions) {
  auto ok = decoder().decode_line(R"({"request_id":"p","message_type":"inference_request","model":"m",
                                       "original_size":[1024.0,768]})");
  ASSERT_FALSE(ok.error);
  EXPECT_EQ(ok.message->generation->original_size->first, 1024);
  auto bad = decoder().decode_line(R"({"request_id":"p","message_type":"inference_request","model":"m",
                                        "target_size":[1024.5,768]})");
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->field(), "target_size[0]");
}

TEST(MessageDecoder, ClipSkipReportsTheValueSent) {
  auto bad = decoder().decode_line(R"({"request_id":"c","message_type":"inference_request","model":"m","clip_skip":-5})");
  ASSERT_TRUE(bad.error);
  EXPECT_NE(std::string(bad.error->what()).find("got -5"), std::string::npos) << bad.error->what();
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

// Found by fuzz_message_decoder: nlohmann throws out_of_range (not parse_error) for numbers
// beyond double, which escaped the decoder and would have ended the process.
TEST(MessageDecoder, HugeNumbersAreInvalidRequestsNotCrashes) {
  for (const char* line : {"8888888888e88888888{", R"({"request_id":"a","message_type":"status_request","x":1e999})",
                           R"({"request_id":"a","message_type":"inference_request","model":"m","width":1e400})"}) {
    DecodeResult result;
    ASSERT_NO_THROW(result = decoder().decode_line(line)) << line;
    ASSERT_TRUE(result.error) << line;
    EXPECT_EQ(result.error->code(), ErrorCode::kInvalidRequest) << line;
  }
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

using ::testing::_;
using ::testing::Eq;
using ::testing::Return;
using ::testing::StrictMock;

// The decoder owns no format knowledge: it asks each translator, hands a recognised message to
// that translator once, and decodes (and names errors by) what comes back.
TEST(MessageDecoder, ARecognisedLegacyMessageIsTranslatedOnceAndDecoded) {
  auto translator = std::make_shared<StrictMock<MockRequestTranslator>>();
  const std::string line = R"({"request_id":"L1","Job":{"Text":"a cat","Steps":"many"}})";
  const auto original = nlohmann::json::parse(line);
  EXPECT_CALL(*translator, recognizes(Eq(original))).WillOnce(Return(true));
  EXPECT_CALL(*translator, translate(Eq(original))).WillOnce([](const nlohmann::json&) {
    compat::TranslatedMessage t;
    t.message = {{"message_type", "inference_request"}, {"model", "m"}, {"prompt", "a cat"}, {"steps", 12}};
    t.warnings = {"translated from mock"};
    return t;
  });
  EXPECT_CALL(*translator, format()).WillOnce(Return(std::string_view("mock")));
  MessageDecoder decoder({translator}, RequestLimits{});
  auto result = decoder.decode_line(line);
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.request_id, "L1");  // read from the original, not the translation
  EXPECT_EQ(result.message->format, "mock");
  EXPECT_EQ(result.message->warnings, (std::vector<std::string>{"translated from mock"}));
  ASSERT_TRUE(result.message->generation);
  EXPECT_EQ(result.message->generation->prompt, "a cat");
  EXPECT_EQ(result.message->generation->steps, 12);
}

TEST(MessageDecoder, ATranslatedFieldErrorNamesTheSendersField) {
  auto translator = std::make_shared<StrictMock<MockRequestTranslator>>();
  EXPECT_CALL(*translator, recognizes(_)).WillOnce(Return(true));
  EXPECT_CALL(*translator, translate(_)).WillOnce([](const nlohmann::json&) {
    compat::TranslatedMessage t;
    t.message = {{"message_type", "inference_request"}, {"model", "m"}, {"steps", 0}};
    t.field_origin = {{"steps", "Job.Steps"}};
    return t;
  });
  EXPECT_CALL(*translator, format()).WillOnce(Return(std::string_view("mock")));
  auto result = MessageDecoder({translator}, RequestLimits{}).decode_line(R"({"request_id":"L2","Job":{}})");
  ASSERT_TRUE(result.error);
  EXPECT_EQ(result.error->field(), "Job.Steps");
  EXPECT_EQ(result.request_id, "L2");
}

TEST(MessageDecoder, ACanonicalMessageIsNeverHandedToATranslator) {
  auto translator = std::make_shared<StrictMock<MockRequestTranslator>>();
  EXPECT_CALL(*translator, recognizes(_)).WillOnce(Return(false));
  EXPECT_CALL(*translator, translate(_)).Times(0);
  MessageDecoder decoder({translator}, RequestLimits{});
  auto result = decoder.decode_line(R"({"request_id":"c1","message_type":"status_request"})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.message->format, "canonical");
  EXPECT_EQ(result.message->type, MessageType::kStatus);
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

std::string decode_error_field(const std::string& line) {
  auto result = decoder().decode_line(line);
  EXPECT_TRUE(result.error) << line;
  return result.error ? result.error->field() : "";
}

TEST(MessageDecoder, HiresFixFieldsTurnTheFixOnWithA1111Defaults) {
  auto g = decode_ok(R"({"message_type":"inference_request","model":"m","prompt":"p","width":512,"height":768,)"
                     R"("hires_scale":1.5,"hires_upscaler":"R-ESRGAN 4x+"})");
  ASSERT_TRUE(g.hires);
  EXPECT_DOUBLE_EQ(g.hires->scale, 1.5);
  EXPECT_EQ(g.hires->steps, 0);
  EXPECT_DOUBLE_EQ(g.hires->strength, 0.7);
  EXPECT_EQ(g.hires->upscaler, "R-ESRGAN 4x+");
  EXPECT_EQ(hires_size(768, 1.5), 1152);
  EXPECT_TRUE(decode_ok(R"({"message_type":"inference_request","model":"m","enable_hr":true})").hires);
  EXPECT_FALSE(decode_ok(R"({"message_type":"inference_request","model":"m","enable_hr":false,"hires_scale":2})").hires);
  EXPECT_FALSE(decode_ok(R"({"message_type":"inference_request","model":"m"})").hires);
  const std::string base = R"({"message_type":"inference_request","model":"m",)";
  EXPECT_EQ(decode_error_field(base + R"("hires_scale":5})"), "hires_scale");
  EXPECT_EQ(decode_error_field(base + R"("hires_scale":1})"), "hires_scale");  // not larger
  EXPECT_EQ(decode_error_field(base + R"("width":4096,"height":1024,"hires_scale":2})"), "hires_scale");
  EXPECT_EQ(decode_error_field(base + R"("hires_steps":-1})"), "hires_steps");
  EXPECT_EQ(decode_error_field(base + R"("hires_strength":0})"), "hires_strength");
  EXPECT_EQ(decode_error_field(base + R"("hires_upscaler":""})"), "hires_upscaler");
  EXPECT_EQ(decode_error_field(base + R"("hires_scale":2,"init_image":"a.png"})"), "hires_scale");
  EXPECT_EQ(decode_error_field(base + R"("hires_scale":2,"model":{"base":"m","refiner":"r"}})"), "hires_scale");
}

TEST(MessageDecoder, PostprocessObjectAndItsFieldErrors) {
  auto g = decode_ok(R"({"message_type":"inference_request","model":"m","postprocess":{)"
                     R"("upscale":{"model":"4x-UltraSharp","scale":2,"tile":128},"enhance":{"contrast":1.1},)"
                     R"("safety_checker":"blur"}})");
  ASSERT_TRUE(g.postprocess.upscale);
  EXPECT_EQ(g.postprocess.upscale->model, "4x-UltraSharp");
  EXPECT_DOUBLE_EQ(g.postprocess.upscale->scale, 2.0);
  EXPECT_EQ(g.postprocess.upscale->tile, 128);
  EXPECT_EQ(g.postprocess.enhance, (nlohmann::json{{"contrast", 1.1}}));
  EXPECT_EQ(g.postprocess.safety_checker, "blur");
  EXPECT_EQ(decode_ok(R"({"message_type":"inference_request","model":"m","postprocess":{"upscale":"lanczos"}})")
                .postprocess.upscale->model,
            "lanczos");
  const std::string base = R"({"message_type":"inference_request","model":"m","postprocess":)";
  EXPECT_EQ(decode_error_field(base + R"({"upscale":{"model":"","scale":2}}})"), "postprocess.upscale.model");
  // A request that names no model gets the non-neural upscaler.
  EXPECT_EQ(decode_ok(R"({"message_type":"inference_request","model":"m","postprocess":{"upscale":{"scale":2}}})")
                .postprocess.upscale->model,
            "lanczos");
  EXPECT_EQ(decode_error_field(base + R"({"upscale":{"model":"x","scale":20}}})"), "postprocess.upscale.scale");
  EXPECT_EQ(decode_error_field(base + R"({"upscale":{"model":"x","tile":-5}}})"), "postprocess.upscale.tile");
  EXPECT_EQ(decode_error_field(base + R"({"upscale":{"model":"x","size":2}}})"), "postprocess.upscale.size");
  EXPECT_EQ(decode_error_field(base + R"({"upscale":7}})"), "postprocess.upscale");
  EXPECT_EQ(decode_error_field(base + R"({"enhance":[1]}})"), "postprocess.enhance");
  EXPECT_EQ(decode_error_field(base + R"({"safety_checker":"hide"}})"), "postprocess.safety_checker");
  EXPECT_EQ(decode_error_field(base + R"({"restore_faces":true}})"), "postprocess.restore_faces");
  EXPECT_EQ(decode_error_field(base + R"("upscale"})"), "postprocess");
}

TEST(MessageDecoder, PostprocessRequestNeedsAnImageAndAStage) {
  auto result = decoder().decode_line(R"({"request_id":"pp","message_type":"postprocess_request",)"
                                      R"("image":"in.png","postprocess":{"upscale":"lanczos"},"output_format":"jpg"})");
  ASSERT_FALSE(result.error) << result.error->what();
  EXPECT_EQ(result.response_type, "postprocess_response");
  EXPECT_EQ(result.message->type, MessageType::kPostprocess);
  const auto& g = *result.message->generation;
  EXPECT_EQ(g.source_image, "in.png");
  EXPECT_EQ(g.output_format, "jpeg");
  EXPECT_TRUE(g.model.base.empty());  // no model needed
  EXPECT_EQ(decode_error_field(R"({"message_type":"postprocess_request","postprocess":{"upscale":"lanczos"}})"),
            "image");
  EXPECT_EQ(decode_error_field(R"({"message_type":"postprocess_request","image":"in.png"})"), "postprocess");
  EXPECT_EQ(decode_error_field(R"({"message_type":"postprocess_request","image":"in.png","postprocess":{}})"),
            "postprocess");
  EXPECT_EQ(decode_error_field(R"({"message_type":"postprocess_request","image":"in.png",)"
                               R"("postprocess":{"upscale":"lanczos"},"output_format":"gif"})"),
            "output_format");
  auto warned = decoder().decode_line(R"({"message_type":"postprocess_request","image":"in.png",)"
                                      R"("postprocess":{"upscale":"lanczos"},"prompt":"ignored"})");
  EXPECT_EQ(warned.warnings, std::vector<std::string>{"unknown field ignored: prompt"});
}

}  // namespace
}  // namespace workers
