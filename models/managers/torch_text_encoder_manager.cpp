#include "models/managers/torch_text_encoder_manager.h"

#include <torch/torch.h>

#include "models/nn/sdxl_text_encoders.h"
#include "models/nn/weight_stream.h"

namespace workers {

namespace {

// Both encoders with their streams (when streamed), kept alive by the cached pointer.
struct StreamedEncoders {
  SdxlTextEncoders encoders;
  std::vector<std::unique_ptr<WeightStream>> streams;
};

}  // namespace

std::shared_ptr<SdxlTextEncoders> TorchTextEncoderManager::text_encoders(const ModelHandle& model,
                                                                         Residency residency) {
  if (model.kind == ModelKind::kVae) throw_invalid(model.field, model.reference + " is a VAE, not an SDXL model");
  return loader_->cached_as<SdxlTextEncoders>(model, "text_encoders", residency, [&] {
    auto owner = std::make_shared<StreamedEncoders>();
    SdxlTextEncoders& encoders = owner->encoders;
    const auto tokenizers = tokenizers_->tokenizers(model);
    std::uint64_t bytes = 0;
    auto build = [&](const std::string& component) {
      const auto source = loader_->source(model, component);
      if (residency == Residency::kResident) {
        auto encoder = build_clip_text(source, loader_->placement());
        bytes += module_bytes(*encoder);
        return encoder;
      }
      auto encoder = build_streamed(source, build_clip_text);
      owner->streams.push_back(std::make_unique<WeightStream>(*encoder, loader_->placement(),
                                                              loader_->placement().device.is_cuda()));
      bytes += owner->streams.back()->resting_bytes();
      return encoder;
    };
    if (model.kind != ModelKind::kSdxlRefiner) encoders.text_encoder = build("text_encoder");  // a refiner has encoder 2 only
    encoders.tokenizer = tokenizers.tokenizer;
    encoders.text_encoder_2 = build("text_encoder_2");
    encoders.tokenizer_2 = tokenizers.tokenizer_2;
    return ModelCache::Loaded{std::shared_ptr<void>(owner, &owner->encoders), bytes};
  });
}

}  // namespace workers
