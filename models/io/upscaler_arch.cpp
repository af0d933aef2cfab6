#include "models/io/upscaler_arch.h"

#include <algorithm>
#include <cctype>

#include "utilities/error.h"

namespace workers {
namespace {

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 9 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string first_keys(const TensorShapes& shapes, std::size_t limit = 6) {
  std::string out;
  std::size_t n = 0;
  for (const auto& entry : shapes) {
    if (n == limit) break;
    out += (n++ ? ", " : "") + entry.first;
  }
  if (shapes.empty()) return "(no tensors)";
  if (shapes.size() > limit) out += ", ... (" + std::to_string(shapes.size()) + " in all)";
  return out;
}

[[noreturn]] void fail(const std::string& message, const TensorShapes& shapes) {
  throw Error(ErrorCode::kModelLoadError, message + "; found keys: " + first_keys(shapes));
}

// spandrel's canonicalize_state_dict on flattened names: the real dict may sit under a known key.
// A flattened "model.0.weight" is the old ESRGAN layout itself, not a dict under "model": only a
// prefix followed by a name (not a sequence index) counts as a nesting. `original` maps each
// remaining name back to the file's.
TensorShapes canonicalize(const TensorShapes& shapes,
                          std::map<std::string, std::string>* original) {
  std::map<std::string, std::string> names;
  for (const auto& entry : shapes) names.emplace(entry.first, entry.first);
  for (const char* wrapper :
       {"model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model", "net"}) {
    const std::string prefix = std::string(wrapper) + ".";
    std::map<std::string, std::string> inner;
    bool nested = false;
    for (const auto& entry : shapes) {
      if (!starts_with(entry.first, prefix)) continue;
      const std::string rest = entry.first.substr(prefix.size());
      inner.emplace(rest, entry.first);
      nested = nested || !is_index(split(rest).front());
    }
    if (nested) {
      names = std::move(inner);
      break;
    }
  }
  for (const std::string prefix : {"module.", "netG."}) {
    const bool common =
        !names.empty() && std::all_of(names.begin(), names.end(),
                                      [&](const auto& e) { return starts_with(e.first, prefix); });
    if (!common) continue;
    std::map<std::string, std::string> stripped;
    for (auto& [name, file_key] : names) stripped.emplace(name.substr(prefix.size()), file_key);
    names = std::move(stripped);
  }
  TensorShapes out;
  for (const auto& [name, file_key] : names) out.emplace(name, shapes.at(file_key));
  *original = std::move(names);
  return out;
}

// Highest N + 1 over keys "<seq>.N.*" (spandrel's get_seq_len); 0 when there are none.
int seq_len(const TensorShapes& shapes, const std::string& seq) {
  int len = 0;
  const std::string prefix = seq + ".";
  for (const auto& entry : shapes) {
    if (!starts_with(entry.first, prefix)) continue;
    const std::string index = split(entry.first.substr(prefix.size())).front();
    if (is_index(index)) len = std::max(len, std::stoi(index) + 1);
  }
  return len;
}

bool has(const TensorShapes& shapes, const std::string& key) { return shapes.count(key) > 0; }

const std::vector<std::int64_t>& shape_of(const TensorShapes& shapes, const std::string& key,
                                          std::size_t rank) {
  auto it = shapes.find(key);
  if (it == shapes.end()) fail("upscaler state dict has no " + key, shapes);
  if (it->second.size() != rank) {
    fail("upscaler tensor " + key + " has rank " + std::to_string(it->second.size()) +
             ", expected " + std::to_string(rank),
         shapes);
  }
  return it->second;
}

// Original ESRGAN (a flattened nn.Sequential) to BasicSR names: model.0 = conv_first,
// model.1.sub.N.RDBk.convM.0 = body.N.rdbk.convM, model.1.sub.<nb> = conv_body, then per ×2
// stage [Upsample, conv, LeakyReLU] (conv at model.3j), conv_hr, LeakyReLU, conv_last.
std::string from_old_esrgan(const std::string& key, int num_block, int num_upsample) {
  const auto p = split(key);
  if (p.size() == 8 && p[0] == "model" && p[1] == "1" && p[2] == "sub" && is_index(p[3]) &&
      starts_with(p[4], "RDB") && p[6] == "0") {
    return "body." + p[3] + ".rdb" + p[4].substr(3) + "." + p[5] + "." + p[7];
  }
  if (p.size() == 5 && p[0] == "model" && p[1] == "1" && p[2] == "sub" &&
      p[3] == std::to_string(num_block)) {
    return "conv_body." + p[4];
  }
  if (p.size() != 3 || p[0] != "model" || !is_index(p[1])) return key;
  const int n = std::stoi(p[1]);
  if (n == 0) return "conv_first." + p[2];
  if (n % 3 == 0 && n / 3 >= 1 && n / 3 <= num_upsample)
    return "conv_up" + std::to_string(n / 3) + "." + p[2];
  if (n == 3 * num_upsample + 2) return "conv_hr." + p[2];
  if (n == 3 * num_upsample + 4) return "conv_last." + p[2];
  return key;
}

// BSRGAN/RealSR names to BasicSR names (the same network).
std::string from_bsrgan(const std::string& key) {
  const auto p = split(key);
  if (p.size() == 5 && p[0] == "RRDB_trunk" && starts_with(p[2], "RDB")) {
    return "body." + p[1] + ".rdb" + p[2].substr(3) + "." + p[3] + "." + p[4];
  }
  if (p.size() == 2 && p[0] == "trunk_conv") return "conv_body." + p[1];
  if (p.size() == 2 && p[0] == "HRconv") return "conv_hr." + p[1];
  if (p.size() == 2 && starts_with(p[0], "upconv")) return "conv_up" + p[0].substr(6) + "." + p[1];
  return key;
}

UpscalerArch detect_esrgan(const TensorShapes& shapes, bool old_layout) {
  UpscalerArch arch;
  arch.kind = UpscalerKind::kEsrgan;
  arch.name = "ESRGAN";
  TensorShapes renamed;
  if (old_layout) {
    const int len = seq_len(shapes, "model");
    if (len < 5 || (len - 5) % 3 != 0)
      fail("ESRGAN state dict with an unexpected model.N sequence", shapes);
    const int num_upsample = (len - 5) / 3;
    const int num_block = seq_len(shapes, "model.1.sub") - 1;
    for (const auto& [key, shape] : shapes) {
      arch.keys.emplace_back(key, from_old_esrgan(key, num_block, num_upsample));
    }
  } else {
    for (const auto& entry : shapes) arch.keys.emplace_back(entry.first, from_bsrgan(entry.first));
  }
  for (const auto& [from, to] : arch.keys) renamed.emplace(to, shapes.at(from));

  const auto& first = shape_of(renamed, "conv_first.weight", 4);
  const auto& last = shape_of(renamed, "conv_last.weight", 4);
  const auto& grow = shape_of(renamed, "body.0.rdb1.conv1.weight", 4);
  arch.num_feat = static_cast<int>(first[0]);
  arch.num_grow_ch = static_cast<int>(grow[0]);
  arch.num_block = seq_len(renamed, "body");
  arch.num_upsample = 0;
  while (has(renamed, "conv_up" + std::to_string(arch.num_upsample + 1) + ".weight"))
    ++arch.num_upsample;
  const int in_nc = static_cast<int>(first[1]);
  arch.out_channels = static_cast<int>(last[0]);
  // Real-ESRGAN ×2 and ×1 pixel-unshuffle the input (by 2 and 4) so the ×4 body runs on a
  // smaller grid; spandrel recognises them by conv_first taking 4 or 16 times the output channels.
  arch.shuffle_factor = in_nc == arch.out_channels * 4    ? 2
                        : in_nc == arch.out_channels * 16 ? 4
                                                          : 1;
  arch.in_channels = in_nc / (arch.shuffle_factor * arch.shuffle_factor);
  const int net_scale = 1 << arch.num_upsample;
  if (arch.num_upsample > 3 || net_scale % arch.shuffle_factor != 0) {
    fail("ESRGAN state dict with " + std::to_string(arch.num_upsample) +
             " upsampling stages and a ×" + std::to_string(arch.shuffle_factor) +
             " pixel-unshuffle is not supported",
         shapes);
  }
  arch.scale = net_scale / arch.shuffle_factor;
  return arch;
}

// spandrel's get_scale_and_output_channels: x = scale² · out_channels, trying the likely channel
// counts in order.
bool scale_and_channels(std::int64_t x, std::int64_t in_channels, int* scale, int* out_channels) {
  for (std::int64_t c : {in_channels, std::int64_t{3}, std::int64_t{4}, std::int64_t{1}}) {
    if (c <= 0 || x % c != 0) continue;
    for (std::int64_t s = 1; s * s <= x / c; ++s) {
      if (s * s == x / c) {
        *scale = static_cast<int>(s);
        *out_channels = static_cast<int>(c);
        return true;
      }
    }
  }
  return false;
}

UpscalerArch detect_compact(const TensorShapes& shapes) {
  UpscalerArch arch;
  arch.kind = UpscalerKind::kCompact;
  arch.name = "RealESRGAN Compact";
  const int highest = seq_len(shapes, "body") - 1;
  const auto& first = shape_of(shapes, "body.0.weight", 4);
  shape_of(shapes, "body.1.weight", 1);  // PReLU slopes: the only activation with weights
  if (highest < 2 || highest % 2 != 0)
    fail("SRVGGNetCompact state dict with an odd body length", shapes);
  arch.in_channels = static_cast<int>(first[1]);
  arch.num_feat = static_cast<int>(first[0]);
  arch.num_conv = (highest - 2) / 2;
  const auto& last_bias = shape_of(shapes, "body." + std::to_string(highest) + ".bias", 1);
  if (!scale_and_channels(last_bias[0], arch.in_channels, &arch.scale, &arch.out_channels)) {
    fail("SRVGGNetCompact: cannot split " + std::to_string(last_bias[0]) +
             " last-conv channels into scale² · channels",
         shapes);
  }
  for (const auto& entry : shapes) arch.keys.emplace_back(entry.first, entry.first);
  return arch;
}

UpscalerArch detect(const TensorShapes& shapes, const TensorShapes& all_shapes) {
  if (has(shapes, "model.0.weight") && has(shapes, "model.1.sub.0.RDB1.conv1x1.weight")) {
    fail("ESRGAN+ (RRDB blocks with conv1x1) is not supported", shapes);
  }
  if (has(shapes, "model.0.weight") && has(shapes, "model.1.sub.0.RDB1.conv1.0.weight")) {
    return detect_esrgan(shapes, /*old_layout=*/true);
  }
  const bool basicsr = has(shapes, "conv_first.weight") &&
                       has(shapes, "body.0.rdb1.conv1.weight") && has(shapes, "conv_body.weight") &&
                       has(shapes, "conv_last.weight");
  const bool bsrgan = has(shapes, "conv_first.weight") &&
                      has(shapes, "RRDB_trunk.0.RDB1.conv1.weight") &&
                      has(shapes, "trunk_conv.weight") && has(shapes, "conv_last.weight");
  if (basicsr || bsrgan) return detect_esrgan(shapes, /*old_layout=*/false);
  if (has(shapes, "body.0.weight") && has(shapes, "body.1.weight")) return detect_compact(shapes);
  fail("not a supported upscaler (ESRGAN or RealESRGAN Compact)", all_shapes);
}

}  // namespace

UpscalerArch detect_upscaler_arch(const TensorShapes& all_shapes) {
  std::map<std::string, std::string> original;
  const TensorShapes shapes = canonicalize(all_shapes, &original);
  UpscalerArch arch = detect(shapes, all_shapes);
  for (auto& key : arch.keys) key.first = original.at(key.first);
  return arch;
}

}  // namespace workers
