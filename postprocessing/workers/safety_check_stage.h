// SafetyCheckStage: the "safety_check" postprocessing stage: diffusers' safety checker over the
// job's images, then, per mode, flag (report only), black (diffusers: the flagged image becomes
// black) or blur (the flagged image is blurred beyond recognition). Reports
// nsfw_content_detected per image.
#pragma once

#include <memory>
#include <string>

#include "postprocessing/managers/postprocessing_stage.h"
#include "postprocessing/managers/safety_checker_manager.h"

namespace workers {

// A flagged image made unrecognisable: a Gaussian blur with sigma = 1/16 of its longer side
// (a few colour blobs remain, no shapes), computed on a shrunk copy (see the .cpp).
void blur_beyond_recognition(Image& image);

class SafetyCheckStage : public PostprocessingStage {
 public:
  // `default_mode`: the mode of jobs that name none (off, flag, black, blur). Throws
  // Error(CONFIG_ERROR) when it is not off and no checker is configured.
  SafetyCheckStage(std::shared_ptr<SafetyCheckerManager> checker, std::string default_mode);

  std::string name() const override { return "safety_check"; }
  bool applies(const GenerationRequest& request) const override { return mode(request) != "off"; }
  void check(const GenerationRequest& request) const override;
  void run(const GenerationRequest& request, GenerationResult& result) override;

 private:
  std::string mode(const GenerationRequest& request) const;

  std::shared_ptr<SafetyCheckerManager> checker_;
  std::string default_mode_;
};

}  // namespace workers
