// ClipTokenizerManager: the TokenizerManager over vocabulary folders: a diffusers model's
// tokenizer/ and tokenizer_2/, or data/tokenizers for single files; each folder read once.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "models/managers/tokenizer_manager.h"

namespace workers {

class ClipTokenizerManager : public TokenizerManager {
 public:
  explicit ClipTokenizerManager(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  SdxlTokenizers tokenizers(const ModelHandle& model) override;

 private:
  std::shared_ptr<const ClipTokenizer> load(const std::string& folder);

  std::string data_dir_;
  std::mutex mutex_;  // guards loaded_
  std::map<std::string, std::shared_ptr<const ClipTokenizer>> loaded_;  // folder -> tokenizer
};

}  // namespace workers
