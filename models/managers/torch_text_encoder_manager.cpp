#include "models/managers/torch_text_encoder_manager.h"

#include <torch/torch.h>

#include "models/nn/sdxl_text_encoders.h"

namespace workers {

std::shared_ptr<SdxlTextEncoders> TorchTextEncoderManager::text_encoders(const ModelHandle& model) {
  if (model.kind == ModelKind::kVae) throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return loader_->cached_as<SdxlTextEncoders>(model, "text_encoders", [&] {
    auto encoders = std::make_shared<SdxlTextEncoders>();
    const auto tokenizers = tokenizers_->tokenizers(model);
    std::uint64_t bytes = 0;
    if (model.kind != ModelKind::kSdxlRefiner) {  // a refiner has text_encoder_2 only
      encoders->text_encoder = build_clip_text(loader_->source(model, "text_encoder"), loader_->placement());
      bytes += module_bytes(*encoders->text_encoder);
    }
    encoders->tokenizer = tokenizers.tokenizer;
    encoders->text_encoder_2 = build_clip_text(loader_->source(model, "text_encoder_2"), loader_->placement());
    encoders->tokenizer_2 = tokenizers.tokenizer_2;
    bytes += module_bytes(*encoders->text_encoder_2);
    return ModelCache::Loaded{encoders, bytes};
  });
}

}  // namespace workers
