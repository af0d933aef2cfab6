#include "postprocessing/infotext.h"

#include <gtest/gtest.h>

namespace workers {
namespace {

nlohmann::json base_metadata() {
  return {{"prompt", "a lighthouse"},
          {"negative_prompt", "blurry"},
          {"steps", 30},
          {"scheduler", "DPM++ 2M Karras"},
          {"sampler", "DPM++ 2M"},
          {"schedule_type", "Karras"},
          {"guidance_scale", 6.5},
          {"seed", 123},
          {"width", 1024},
          {"height", 768},
          {"model", "/srv/models/sd_xl_base_1.0.safetensors"},
          {"model_hash", "31e35c80fc"},
          {"batch_size", 1},
          {"batch_index", 0}};
}

TEST(Infotext, WritesA1111SamplerAndScheduleTypeWithModelHash) {
  EXPECT_EQ(
      a1111_parameters(base_metadata()),
      "a lighthouse\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, "
      "CFG scale: 6.5, Seed: 123, Size: 1024x768, Model hash: 31e35c80fc, Model: sd_xl_base_1.0");
}

TEST(Infotext, KarrasAndPlainRunsOfOneSamplerDiffer) {
  auto karras = base_metadata(), plain = base_metadata();
  plain["schedule_type"] = "DDIM";
  EXPECT_NE(a1111_parameters(karras), a1111_parameters(plain));
  EXPECT_NE(a1111_parameters(plain).find("Sampler: DPM++ 2M, Schedule type: DDIM,"),
            std::string::npos);
}

TEST(Infotext, BatchImagesNameTheirBatchAndPosition) {
  auto m = base_metadata();
  m["batch_size"] = 3;
  m["batch_index"] = 2;
  const std::string text = a1111_parameters(m);
  EXPECT_NE(text.find("Seed: 123, "), std::string::npos);
  EXPECT_NE(text.find("Model: sd_xl_base_1.0, Batch size: 3, Batch pos: 2"), std::string::npos);
}

TEST(Infotext, VaeAndLoraHashesAsA1111WritesThem) {
  auto m = base_metadata();
  m["vae"] = "/srv/vae/sdxl_vae.safetensors";
  m["vae_hash"] = "235745af8d";
  m["loras"] = {{{"name", "styles/film,grain"}, {"weight", 0.6}, {"hash", "0123456789ab"}},
                {{"name", "detail"}, {"weight", 1}, {"hash", "ba9876543210"}}};
  m["clip_skip"] = 1;  // diffusers' convention: one layer before SDXL's penultimate
  const std::string text = a1111_parameters(m);
  EXPECT_EQ(text.substr(0, text.find('\n')), "a lighthouse <lora:film,grain:0.6> <lora:detail:1>");
  EXPECT_NE(text.find("Model hash: 31e35c80fc, Model: sd_xl_base_1.0, VAE hash: 235745af8d, VAE: "
                      "sdxl_vae.safetensors, Clip skip: 3, "),
            std::string::npos);
  EXPECT_NE(text.find("Lora hashes: \"filmgrain: 0123456789ab, detail: ba9876543210\""),
            std::string::npos);
}

TEST(Infotext, QuotesOnlyValuesHoldingA1111Separators) {
  auto m = base_metadata();
  m["model"] = "my \"best\" model";
  m["refiner"] = "refiner.safetensors";
  m["refiner_hash"] = "7440042bbd";
  m["denoising_end"] = 0.8;
  const std::string text = a1111_parameters(m);
  EXPECT_NE(text.find("Model: my \"best\" model,"), std::string::npos);
  EXPECT_NE(text.find("Refiner: refiner [7440042bbd], Refiner switch at: 0.8"), std::string::npos);
  EXPECT_EQ(a1111_model_name("/m/folder-1.0/"), "folder-1.0");
  EXPECT_EQ(a1111_model_name("x.ckpt"), "x");
}

}  // namespace
}  // namespace workers
