// Postprocessing through the real executable: postprocess_request over `serve` (safety checker in
// black mode, model and filter upscalers, the enhancer), generation with the hires fix and with an
// upscale stage, `sdxl-workers upscale`, and every bad parameter answered with its field while
// serving goes on.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "e2e/run_process.h"

namespace {

namespace fs = std::filesystem;
using e2e::finals_by_id;
using e2e::parse;
using e2e::run;

const std::string kFixtures = SDXL_FIXTURES_DIR;

std::string outputs_folder(const std::string& name) {
  return testing::TempDir() + "/e2e_" + name + "_" + std::to_string(::getpid());
}

// Roots for the fixtures: images, upscalers, the tiny safety checker and the tiny SDXL model.
std::string postprocess_env(const std::string& outputs) {
  return "SDXL_WORKERS_MODEL_ROOTS=" + kFixtures + " SDXL_WORKERS_IMAGE_ROOTS=" + kFixtures +
         "/postprocess SDXL_WORKERS_UPSCALER_ROOTS=" + kFixtures + "/upscalers SDXL_WORKERS_SAFETY_CHECKER_MODEL=" +
         kFixtures + "/tiny-safety-checker SDXL_WORKERS_OUTPUT_ROOT=" + outputs;
}

cv::Mat read_asset(const nlohmann::json& response, std::size_t i = 0) {
  const std::string path = response["data"]["assets"][i]["path"].get<std::string>();
  return cv::imread(path, cv::IMREAD_UNCHANGED);
}

std::string parameters_of(const nlohmann::json& response) {
  // The infotext the encode stage wrote is not echoed; PNG Info reads the file's chunk.
  std::ifstream in(response["data"]["assets"][0]["path"].get<std::string>(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = bytes.find("parameters");
  return at == std::string::npos ? "" : bytes.substr(at, 400);
}

TEST(PostprocessE2E, SafetyCheckerBlackModeBlacksOutOnlyTheFlaggedImage) {
  const std::string outputs = outputs_folder("safety");
  const std::string input =
      R"({"request_id":"flagged","message_type":"postprocess_request","image":"safety_flagged.png",)"
      R"("postprocess":{"safety_checker":"black"}})" "\n"
      R"({"request_id":"clean","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"safety_checker":"black"}})" "\n"
      R"({"request_id":"blurred","message_type":"postprocess_request","image":"safety_flagged.png",)"
      R"("postprocess":{"safety_checker":"blur"}})" "\n";
  auto r = run("serve", input, postprocess_env(outputs));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  auto finals = finals_by_id(r);
  ASSERT_EQ(finals.size(), 3u) << r.stderr_text;
  for (const char* id : {"flagged", "clean", "blurred"}) ASSERT_EQ(finals[id]["success"], true) << finals[id].dump();
  EXPECT_EQ(finals["flagged"]["data"]["nsfw_content_detected"], nlohmann::json::array({true}));
  EXPECT_EQ(finals["flagged"]["data"]["assets"][0]["metadata"]["nsfw_content_detected"], true);
  EXPECT_EQ(finals["clean"]["data"]["nsfw_content_detected"], nlohmann::json::array({false}));
  EXPECT_EQ(cv::countNonZero(read_asset(finals["flagged"]).reshape(1)), 0);  // black
  const cv::Mat original = cv::imread(kFixtures + "/postprocess/safety_clean.png", cv::IMREAD_UNCHANGED);
  const cv::Mat clean = read_asset(finals["clean"]);
  ASSERT_EQ(clean.size(), original.size());
  EXPECT_EQ(cv::norm(clean, original, cv::NORM_INF), 0.0);  // left alone
  const cv::Mat noise = cv::imread(kFixtures + "/postprocess/safety_flagged.png", cv::IMREAD_UNCHANGED);
  cv::Mat blurred = read_asset(finals["blurred"]);
  EXPECT_GT(cv::countNonZero(blurred.reshape(1)), 0);
  EXPECT_GT(cv::norm(blurred, noise, cv::NORM_L1) / noise.total(), 30.0);  // nothing of the noise is left
  fs::remove_all(outputs);
}

TEST(PostprocessE2E, UpscaleRequestsWithModelsAndFiltersAndTheirErrors) {
  const std::string outputs = outputs_folder("upscale");
  const std::string input =
      R"({"request_id":"x4","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":"tiny-RealESRGAN_x4plus"}})" "\n"
      R"({"request_id":"x2by3","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":{"model":"tiny-realesr-general-x4v3","scale":3,"tile":16}}})" "\n"
      R"({"request_id":"lanczos","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":{"model":"lanczos","scale":1.5},"enhance":{"contrast":1.2}}})" "\n"
      R"({"request_id":"no-scale","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":"lanczos"}})" "\n"
      R"({"request_id":"too-big","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":{"model":"lanczos","scale":9}}})" "\n"
      R"({"request_id":"unknown","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"upscale":"4x-NoSuchModel"}})" "\n"
      R"({"request_id":"enhance","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"enhance":{"contrast":9}}})" "\n"
      R"({"request_id":"stage","message_type":"postprocess_request","image":"safety_clean.png",)"
      R"("postprocess":{"restore_faces":true}})" "\n"
      R"({"request_id":"image","message_type":"postprocess_request","image":"../secret.png",)"
      R"("postprocess":{"upscale":{"model":"lanczos","scale":2}}})" "\n"
      R"({"request_id":"nothing","message_type":"postprocess_request","image":"safety_clean.png"})" "\n"
      R"({"request_id":"status","message_type":"status_request"})" "\n";
  auto r = run("serve", input, postprocess_env(outputs));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  auto finals = finals_by_id(r);
  ASSERT_EQ(finals.size(), 11u) << r.stderr_text;
  ASSERT_EQ(finals["x4"]["success"], true) << finals["x4"].dump();
  EXPECT_EQ(finals["x4"]["data"]["assets"][0]["width"], 256);
  EXPECT_EQ(finals["x4"]["data"]["assets"][0]["height"], 384);
  EXPECT_NE(parameters_of(finals["x4"]).find("Postprocess upscale by: 4, Postprocess upscaler: tiny-RealESRGAN_x4plus"),
            std::string::npos)
      << parameters_of(finals["x4"]);
  ASSERT_EQ(finals["x2by3"]["success"], true) << finals["x2by3"].dump();
  EXPECT_EQ(finals["x2by3"]["data"]["assets"][0]["width"], 192);
  ASSERT_EQ(finals["lanczos"]["success"], true) << finals["lanczos"].dump();
  EXPECT_EQ(finals["lanczos"]["data"]["assets"][0]["width"], 96);
  EXPECT_EQ(finals["lanczos"]["data"]["assets"][0]["metadata"]["postprocess_upscale"]["upscaler"], "Lanczos");
  const std::map<std::string, std::pair<std::string, std::string>> refused = {
      {"no-scale", {"INVALID_REQUEST", "postprocess.upscale.scale"}},
      {"too-big", {"INVALID_REQUEST", "postprocess.upscale.scale"}},
      {"unknown", {"MODEL_NOT_FOUND", "postprocess.upscale.model"}},
      {"enhance", {"INVALID_REQUEST", "postprocess.enhance.contrast"}},
      {"stage", {"INVALID_REQUEST", "postprocess.restore_faces"}},
      {"image", {"INVALID_REQUEST", "image"}},
      {"nothing", {"INVALID_REQUEST", "postprocess"}}};
  for (const auto& [id, expected] : refused) {
    EXPECT_EQ(finals[id]["success"], false) << id;
    EXPECT_EQ(finals[id]["error"]["code"], expected.first) << finals[id].dump();
    EXPECT_EQ(finals[id]["error"]["field"], expected.second) << finals[id].dump();
  }
  EXPECT_EQ(finals["status"]["success"], true);
  fs::remove_all(outputs);
}

TEST(PostprocessE2E, GenerationWithHiresFixAndAnUpscaleStage) {
  const std::string outputs = outputs_folder("hires");
  const std::string common =
      R"("message_type":"inference_request","model":"tiny-sdxl","prompt":"a red fox","width":64,"height":64,)"
      R"("steps":2,"seed":7)";
  const std::string input =
      R"({"request_id":"latent",)" + common + R"(,"hires_scale":2,"hires_steps":2,"hires_strength":0.5})" "\n" +
      R"({"request_id":"pixel",)" + common +
      R"(,"hires_scale":1.5,"hires_steps":1,"hires_upscaler":"tiny-RealESRGAN_x2plus"})" "\n" +
      R"({"request_id":"upscaled",)" + common + R"(,"postprocess":{"upscale":"tiny-RealESRGAN_x2plus"}})" "\n" +
      R"({"request_id":"bad-hires",)" + common + R"(,"hires_scale":8})" "\n" +
      R"({"request_id":"bad-upscaler",)" + common + R"j(,"hires_upscaler":"Latent (sideways)"})j" "\n";
  auto r = run("serve", input, postprocess_env(outputs));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  std::map<std::string, int> progress;
  auto finals = finals_by_id(r, &progress);
  ASSERT_EQ(finals.size(), 5u) << r.stderr_text;
  ASSERT_EQ(finals["latent"]["success"], true) << finals["latent"].dump();
  EXPECT_EQ(finals["latent"]["data"]["assets"][0]["width"], 128);
  const std::string latent = parameters_of(finals["latent"]);
  EXPECT_NE(latent.find("Denoising strength: 0.5"), std::string::npos) << latent;
  EXPECT_NE(latent.find("Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent"), std::string::npos) << latent;
  EXPECT_GE(progress["latent"], 4);  // both passes report their steps
  ASSERT_EQ(finals["pixel"]["success"], true) << finals["pixel"].dump();
  EXPECT_EQ(finals["pixel"]["data"]["assets"][0]["width"], 96);
  EXPECT_NE(parameters_of(finals["pixel"]).find("Hires upscaler: tiny-RealESRGAN_x2plus"), std::string::npos);
  ASSERT_EQ(finals["upscaled"]["success"], true) << finals["upscaled"].dump();
  EXPECT_EQ(finals["upscaled"]["data"]["assets"][0]["width"], 128);
  EXPECT_EQ(finals["bad-hires"]["error"]["field"], "hires_scale");
  EXPECT_EQ(finals["bad-upscaler"]["error"]["field"], "hires_upscaler");
  fs::remove_all(outputs);
}

TEST(PostprocessE2E, UpscaleCommandWritesTheOutputFile) {
  const std::string folder = outputs_folder("upscale_cli");
  fs::create_directories(folder);
  const std::string in = kFixtures + "/postprocess/safety_clean.png";
  auto model = run("upscale --model '" + kFixtures + "/upscalers/tiny-RealESRGAN_x2plus.safetensors' --input '" + in +
                       "' --output '" + folder + "/x2.png'",
                   "");
  ASSERT_EQ(model.exit_code, 0) << model.stderr_text;
  EXPECT_EQ(cv::imread(folder + "/x2.png").cols, 128);
  auto filter = run("upscale --model lanczos --scale 0.5 --input '" + in + "' --output '" + folder + "/half.webp'", "");
  ASSERT_EQ(filter.exit_code, 0) << filter.stderr_text;
  EXPECT_EQ(cv::imread(folder + "/half.webp").rows, 48);
  auto missing = run("upscale --model lanczos --input '" + in + "' --output '" + folder + "/x.png'", "");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.stderr_text.find("postprocess.upscale.scale"), std::string::npos) << missing.stderr_text;
  auto usage = run("upscale --input '" + in + "' --output '" + folder + "/x.png'", "");
  EXPECT_EQ(usage.exit_code, 64);
  EXPECT_NE(usage.stderr_text.find("upscale needs --model"), std::string::npos);
  fs::remove_all(folder);
}

TEST(PostprocessE2E, GenerateWithHiresFixAndUpscaleAndThePostprocessCommand) {
  const std::string folder = outputs_folder("generate_cli");
  fs::create_directories(folder);
  auto generated = run("generate --model '" + kFixtures + "/tiny-sdxl' --prompt 'a red fox' --width 64 --height 64 "
                       "--steps 2 --seed 3 --hires-scale 2 --hires-steps 1 --hires-strength 0.6 "
                       "--hires-upscaler 'Latent (nearest)' --upscale '" + kFixtures +
                           "/upscalers/tiny-RealESRGAN_x2plus.safetensors' --output '" + folder + "/fox.png'",
                       "");
  ASSERT_EQ(generated.exit_code, 0) << generated.stderr_text;
  EXPECT_EQ(cv::imread(folder + "/fox.png").cols, 256);  // 64 → hires 128 → ×2 256
  std::ifstream in(folder + "/fox.png", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* field : {"Size: 64x64", "Denoising strength: 0.6", "Hires upscale: 2, Hires steps: 1, Hires upscaler: Latent (nearest)",
                            "Postprocess upscale by: 2, Postprocess upscaler: tiny-RealESRGAN_x2plus"}) {
    EXPECT_NE(bytes.find(field), std::string::npos) << field;
  }
  // The file goes on through the Extras-like command: its parameters are kept, the step added.
  auto post = run("postprocess --input '" + folder + "/fox.png' --upscale bicubic --upscale-by 0.5 "
                  "--enhance '{\"sharpen\": {\"amount\": 0.5}}' --output '" + folder + "/small.png'",
                  "");
  ASSERT_EQ(post.exit_code, 0) << post.stderr_text;
  EXPECT_EQ(cv::imread(folder + "/small.png").cols, 128);
  std::ifstream small_in(folder + "/small.png", std::ios::binary);
  const std::string small((std::istreambuf_iterator<char>(small_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(small.find("Hires upscale: 2"), std::string::npos);
  EXPECT_NE(small.find("Postprocess upscale by: 0.5, Postprocess upscaler: Bicubic, Sharpen: 0.5"), std::string::npos);
  auto bad = run("postprocess --input '" + folder + "/fox.png' --enhance '{\"contrast\": 7}' --output '" + folder +
                     "/x.png'",
                 "");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.stderr_text.find("postprocess.enhance.contrast"), std::string::npos) << bad.stderr_text;
  fs::remove_all(folder);
}

}  // namespace
