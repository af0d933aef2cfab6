// AssetWriter: turns generated images into the response's `data.assets` entries: each image encoded
// (PNG with A1111's `parameters` and ComfyUI's `prompt` text chunks, JPEG or WEBP with the
// parameters in EXIF UserComment) and written under the output root, or
// returned base64-encoded, with its metadata. Thumbnails are a stage of their own (ThumbnailStage).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "postprocessing/infotext.h"  // a1111_parameters
#include "utilities/image.h"

namespace workers {

struct AssetOptions {
  // The request id: files are <stem>.<ext>, or <stem>-<i>.<ext> for a batch (output_stem), with
  // -1, -2, ... added when the name is taken; no file is ever overwritten.
  std::string name;
  std::string format = "png";  // png, jpeg, webp
  bool write_file = true;
  bool return_base64 = false;
};

class AssetWriter {
 public:
  explicit AssetWriter(std::string output_root);

  // `metadata`: shared by the batch (seed, steps, prompt, ...); each asset adds its index, size
  // and format. Throws Error(INVALID_REQUEST, "output_format") for an unknown format and
  // Error(INTERNAL_ERROR) when the file cannot be written.
  nlohmann::json write(const std::vector<Image>& images, const nlohmann::json& metadata,
                       const AssetOptions& options) const;

  const std::string& output_root() const { return root_; }

 private:
  std::string root_;
};

// Letters, digits, '-', '_' and '.' kept, anything else '_', no leading '.', at most 100 bytes.
std::string sanitize_file_stem(const std::string& name);
// The file stem of a request id: the id itself when it is a safe name, else its sanitised form
// plus "-" and 8 hex digits of a hash of the whole id, so different ids get different names.
std::string output_stem(const std::string& request_id);

}  // namespace workers
