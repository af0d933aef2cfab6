#include "postprocessing/workers/safety_check_stage.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "utilities/cv_image.h"
#include "utilities/error.h"

namespace workers {

// The strong blur of the blur mode: a Gaussian with sigma = 1/16 of the long side (64 px at
// 1024²: a few colour blobs remain, no shapes). It runs on a copy shrunk by up to sigma/4 (area
// averaging), blurred with the scaled sigma and enlarged bilinearly: the same low-pass, as the
// shrink and enlarge only lose detail the blur removes, at a fraction of a 385-tap kernel's cost.
void blur_beyond_recognition(Image& image) {
  cv::Mat mat(image.height, image.width, CV_8UC(image.channels), image.pixels.data());
  const double sigma = std::max(image.width, image.height) / 16.0;
  const double shrink = std::max(1.0, sigma / 4.0);
  const cv::Size small_size(std::max(1, static_cast<int>(std::lround(image.width / shrink))),
                            std::max(1, static_cast<int>(std::lround(image.height / shrink))));
  cv::Mat small;
  cv::resize(mat, small, small_size, 0, 0, cv::INTER_AREA);
  const double small_sigma = sigma * small_size.width / image.width;
  cv::GaussianBlur(small, small, cv::Size(0, 0), small_sigma, small_sigma, cv::BORDER_REFLECT_101);
  cv::Mat out;
  cv::resize(small, out, mat.size(), 0, 0, cv::INTER_LINEAR);
  std::memcpy(image.pixels.data(), out.data, image.pixels.size());
}

SafetyCheckStage::SafetyCheckStage(std::shared_ptr<SafetyCheckerManager> checker, std::string default_mode)
    : checker_(std::move(checker)), default_mode_(std::move(default_mode)) {
  if (default_mode_ != "off" && !(checker_ && checker_->configured())) {
    throw Error(ErrorCode::kConfigError,
                "safety checker mode \"" + default_mode_ +
                    "\" needs a model: set workers.instructors.postprocessing.safety_checker.model",
                "workers.instructors.postprocessing.safety_checker.mode");
  }
}

std::string SafetyCheckStage::mode(const GenerationRequest& request) const {
  return request.postprocess.safety_checker.empty() ? default_mode_ : request.postprocess.safety_checker;
}

void SafetyCheckStage::check(const GenerationRequest&) const {
  if (!(checker_ && checker_->configured())) {
    throw_invalid("postprocess.safety_checker",
                  "no safety checker model is configured (workers.instructors.postprocessing.safety_checker.model)");
  }
}

void SafetyCheckStage::run(const GenerationRequest& request, GenerationResult& result) {
  const std::string how = mode(request);
  const std::vector<bool> flagged = checker_->check(result.images);
  bool any = false;
  for (std::size_t i = 0; i < flagged.size() && i < result.images.size(); ++i) {
    if (!flagged[i]) continue;
    any = true;
    Image& image = result.images[i];
    if (how == "black") std::fill(image.pixels.begin(), image.pixels.end(), std::uint8_t{0});
    if (how == "blur") blur_beyond_recognition(image);
  }
  result.data["nsfw_content_detected"] = flagged;
  result.metadata["nsfw_content_detected"] = flagged;  // per image in each asset's metadata
  result.metadata["safety_checker"] = how;
  if (any && how != "flag") {
    result.warnings.push_back(std::string("potential NSFW content was detected in one or more images; ") +
                              (how == "black" ? "a black image is returned instead" : "it is blurred"));
  }
}

}  // namespace workers
