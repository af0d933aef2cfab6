// ThumbnailStage: the "thumbnail" postprocessing stage. Adds a small WEBP preview (at most
// `max_side` px on the longer side, base64) to each data.assets entry, from the matching image.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "postprocessing/managers/postprocessing_stage.h"
#include "utilities/image.h"

namespace workers {

class ThumbnailStage : public PostprocessingStage {
 public:
  explicit ThumbnailStage(int max_side = 256);

  std::string name() const override { return "thumbnail"; }
  // Needs one data.assets entry per image (the encode stage before it); else
  // Error(INTERNAL_ERROR), since only a misordered stage list gets here.
  void run(const GenerationRequest& request, GenerationResult& result) override;

 private:
  int max_side_;
};

// An asset's "thumbnail" field: {"format": "webp", "base64": ...}.
nlohmann::json thumbnail_entry(const Image& image, int max_side);

}  // namespace workers
