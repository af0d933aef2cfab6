#include "postprocessing/workers/enhance_stage.h"

#include "postprocessing/workers/enhancer.h"
#include "utilities/error.h"
#include "utilities/pil_resample.h"

namespace workers {

namespace {
constexpr const char* kField = "postprocess.enhance";
}  // namespace

EnhanceStage::EnhanceStage(ImageReader read_image) : read_image_(std::move(read_image)) {}

void EnhanceStage::check(const GenerationRequest& request) const {
  const EnhanceOptions options = parse_enhance_options(request.postprocess.enhance, kField);
  if (options.color_correction && request.init_image.empty()) {
    throw_invalid(std::string(kField) + ".color_correction",
                  "needs an init image: it matches an img2img result's colours to its init image");
  }
  if (options.color_correction && !read_image_) {
    throw_invalid(std::string(kField) + ".color_correction", "this worker cannot read init images");
  }
}

void EnhanceStage::run(const GenerationRequest& request, GenerationResult& result) {
  const EnhanceOptions options = parse_enhance_options(request.postprocess.enhance, kField);
  Image init, sized;
  if (options.color_correction) init = sized = read_image_(request.init_image, "init_image");
  for (auto& image : result.images) {
    // A1111 corrects against the init image at the output size (it resized it first); the
    // images of a job share one size, so it is resized once.
    if (options.color_correction && (sized.width != image.width || sized.height != image.height)) {
      sized = pil_resize(init, image.width, image.height, PilFilter::kLanczos);
    }
    image = enhance(image, options, options.color_correction ? &sized : nullptr);
  }
  result.metadata["enhance"] = to_json(options);
  result.metadata["enhance_infotext"] = infotext(options);
}

}  // namespace workers
