#include "postprocessing/workers/thumbnail_stage.h"

#include "postprocessing/image_codec.h"
#include "utilities/error.h"

namespace workers {

ThumbnailStage::ThumbnailStage(int max_side) : max_side_(max_side) {}

nlohmann::json thumbnail_entry(const Image& image, int max_side) {
  // Quality 80: previews are for lists and galleries, where size matters more than fidelity.
  return {{"format", "webp"},
          {"base64", base64_encode(encode_image(thumbnail(image, max_side), "webp", {}, 80))}};
}

void ThumbnailStage::run(const GenerationRequest&, GenerationResult& result) {
  auto assets = result.data.find("assets");
  if (assets == result.data.end() || !assets->is_array() ||
      assets->size() != result.images.size()) {
    throw Error(
        ErrorCode::kInternalError,
        "the thumbnail stage needs one data.assets entry per image: list \"encode\" before it in "
        "workers.instructors.postprocessing.stages");
  }
  for (std::size_t i = 0; i < result.images.size(); ++i) {
    (*assets)[i]["thumbnail"] = thumbnail_entry(result.images[i], max_side_);
  }
}

}  // namespace workers
