#include "models/managers/clip_tokenizer_manager.h"

#include <filesystem>

namespace workers {

namespace fs = std::filesystem;

std::shared_ptr<const ClipTokenizer> ClipTokenizerManager::load(const std::string& folder) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = loaded_[folder];
  if (!slot) slot = ClipTokenizer::load(folder);
  return slot;
}

SdxlTokenizers ClipTokenizerManager::tokenizers(const ModelHandle& model) {
  // Single-file checkpoints carry no vocabulary: SDXL's published tokenizers (data/tokenizers).
  const bool folder = model.layout == ModelLayout::kDiffusersFolder;
  auto path = [&](const std::string& name) {
    return folder ? (fs::path(model.path) / name).string() : (fs::path(data_dir_) / "tokenizers" / name).string();
  };
  SdxlTokenizers out;
  if (model.kind != ModelKind::kSdxlRefiner) out.tokenizer = load(path("tokenizer"));
  out.tokenizer_2 = load(path("tokenizer_2"));
  return out;
}

}  // namespace workers
