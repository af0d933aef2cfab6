// EncodeStage: the "encode" postprocessing stage. Writes the job's images as files under the
// output root (and/or base64) with their metadata into result.data["assets"], via AssetWriter.
#pragma once

#include <string>

#include "postprocessing/asset_writer.h"
#include "postprocessing/managers/postprocessing_stage.h"

namespace workers {

class EncodeStage : public PostprocessingStage {
 public:
  explicit EncodeStage(std::string output_root);

  std::string name() const override { return "encode"; }
  // Format, base64 and file name come from the request; replaces data.assets.
  void run(const GenerationRequest& request, GenerationResult& result) override;

 private:
  AssetWriter writer_;  // stateless apart from the root: safe for concurrent jobs
};

}  // namespace workers
