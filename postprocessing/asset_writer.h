// AssetWriter: turns generated images into the response's `data.assets` entries: each image encoded
// (PNG with A1111's `parameters` and ComfyUI's `prompt` text chunks, JPEG or WEBP with the
// parameters in EXIF UserComment) and written under the output root, or
// returned base64-encoded, with a 256 px WEBP thumbnail and its metadata.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "postprocessing/infotext.h"  // a1111_parameters
#include "utilities/image.h"

namespace workers {

struct AssetOptions {
  std::string name;            // file stem (sanitised): <name>.<ext>, or <name>-<i>.<ext> for a batch
  std::string format = "png";  // png, jpeg, webp
  bool write_file = true;
  bool return_base64 = false;
  int thumbnail_side = 256;
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

}  // namespace workers
