#include "postprocessing/workers/encode_stage.h"

namespace workers {

EncodeStage::EncodeStage(std::string output_root) : writer_(std::move(output_root)) {}

void EncodeStage::run(const GenerationRequest& request, GenerationResult& result) {
  AssetOptions options;
  options.name = request.request_id;
  options.format = request.output_format;
  options.return_base64 = request.return_base64;
  result.data["assets"] = writer_.write(result.images, result.metadata, options);
}

}  // namespace workers
