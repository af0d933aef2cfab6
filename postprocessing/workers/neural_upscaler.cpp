#include "postprocessing/workers/neural_upscaler.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <utility>

#include "models/io/pth_archive.h"
#include "models/io/safetensors_file.h"
#include "models/nn/esrgan.h"
#include "utilities/error.h"
#include "utilities/pil_resample.h"

namespace workers {
namespace {

constexpr int kMaxPasses = 3;  // A1111's bound on repeated model passes toward a target size

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// PthTensor spells dtypes as safetensors does.
c10::ScalarType pth_scalar_type(const std::string& dtype, const std::string& what) {
  if (const auto known = dtype_from_name(dtype)) return to_scalar_type(*known);
  throw Error(ErrorCode::kModelLoadError, what + ": unsupported tensor dtype " + dtype);
}

// Copies each pickled tensor into an owned CPU tensor (the archive's buffers do not outlive us).
NamedTensors read_pth_tensors(const std::string& path, const std::string& what) {
  NamedTensors out;
  for (auto& [name, t] : read_pth_state_dict(path)) {
    auto tensor =
        torch::empty(t.shape, torch::TensorOptions().dtype(pth_scalar_type(t.dtype, what)));
    const auto bytes = static_cast<std::size_t>(tensor.numel()) * tensor.element_size();
    if (bytes != t.data.size()) {
      throw Error(ErrorCode::kModelLoadError, what + ": tensor " + name + " has " +
                                                  std::to_string(t.data.size()) + " bytes for " +
                                                  std::to_string(bytes) + " expected");
    }
    if (bytes) std::memcpy(tensor.data_ptr(), t.data.data(), bytes);
    out.emplace_back(name, std::move(tensor));
  }
  return out;
}

NamedTensors read_model_tensors(const std::string& path, const std::string& what) {
  const auto ext = lower_extension(path);
  if (ext == ".safetensors") {
    auto file = SafetensorsFile::open(path);
    NamedTensors out;
    for (const auto& name : file->names())
      out.emplace_back(name, file->tensor(name));  // mapped views
    return out;
  }
  if (ext == ".pth" || ext == ".pt" || ext == ".ckpt" || ext == ".bin")
    return read_pth_tensors(path, what);
  throw Error(ErrorCode::kModelLoadError, what + ": unsupported upscaler file type '" + ext +
                                              "' (expected .safetensors or .pth)");
}

at::Tensor to_tensor(const Image& image) {
  if (image.width < 1 || image.height < 1 || image.channels < 1 ||
      image.pixels.size() !=
          static_cast<std::size_t>(image.width) * image.height * image.channels) {
    throw Error(ErrorCode::kInvalidRequest, "upscaler: empty or inconsistent image");
  }
  auto hwc = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()),
                              {image.height, image.width, image.channels}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0);
}

Image to_image(const at::Tensor& nchw) {
  // ComfyUI/spandrel: clamp to [0, 1], then ·255 rounded (half to even, as torch.round).
  auto hwc = nchw[0]
                 .clamp(0.0, 1.0)
                 .mul(255.0)
                 .round()
                 .to(torch::kUInt8)
                 .permute({1, 2, 0})
                 .contiguous()
                 .cpu();
  Image out;
  out.height = static_cast<int>(hwc.size(0));
  out.width = static_cast<int>(hwc.size(1));
  out.channels = static_cast<int>(hwc.size(2));
  out.pixels.assign(hwc.data_ptr<std::uint8_t>(), hwc.data_ptr<std::uint8_t>() + hwc.numel());
  return out;
}


}  // namespace

std::unique_ptr<NeuralUpscaler> NeuralUpscaler::load(const std::string& path, c10::Device device,
                                                     c10::ScalarType dtype, UpscalerTiling tiling) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorCode::kModelNotFound, "upscaler model not found: " + path);
  }
  const std::string name = std::filesystem::path(path).stem().string();
  const NamedTensors tensors = read_model_tensors(path, name);
  TensorShapes shapes;
  for (const auto& [key, tensor] : tensors) shapes.emplace(key, tensor.sizes().vec());
  UpscalerArch arch;
  try {
    arch = detect_upscaler_arch(shapes);
  } catch (const Error& e) {
    throw Error(e.code(), name + ": " + e.what());
  }
  auto network = build_upscaler_network(arch, tensors, name, dtype, device);
  return std::make_unique<NeuralUpscaler>(name, std::move(arch), std::move(network), device, dtype,
                                          tiling);
}

NeuralUpscaler::NeuralUpscaler(std::string name, UpscalerArch arch,
                               std::shared_ptr<UpscalerNetworkImpl> network, c10::Device device,
                               c10::ScalarType dtype, UpscalerTiling tiling)
    : name_(std::move(name)),
      arch_(std::move(arch)),
      network_(std::move(network)),
      device_(device),
      dtype_(dtype),
      tiling_(tiling) {}

NeuralUpscaler::~NeuralUpscaler() = default;

std::shared_ptr<NeuralUpscaler> NeuralUpscaler::with_tiling(UpscalerTiling tiling) const {
  return std::make_shared<NeuralUpscaler>(name_, arch_, network_, device_, dtype_, tiling);
}

at::Tensor NeuralUpscaler::run_tile(const at::Tensor& tile) const {
  return network_->forward(tile.to(device_, dtype_)).to(torch::kFloat32);
}

// Real-ESRGAN's tile_process: tiles of tile_size input pixels, each run with tile_pad pixels of
// context (clipped at the image border) and the context cropped from its output.
at::Tensor NeuralUpscaler::run(const at::Tensor& image, const UpscalerTiling& tiling) const {
  c10::InferenceMode inference;
  TORCH_CHECK(image.dim() == 4, "upscaler input must be [B, C, H, W]");
  const std::int64_t s = arch_.scale, h = image.size(2), w = image.size(3);
  // A pixel-unshuffling model sees its input in cells of shuffle_factor²: tiles and their context
  // start on the image's own cell grid, or the network sees different cells than untiled.
  const std::int64_t cell = std::max(1, arch_.shuffle_factor);
  const std::int64_t tile = (tiling.tile_size + cell - 1) / cell * cell;
  const std::int64_t pad = (std::max(0, tiling.tile_pad) + cell - 1) / cell * cell;
  try {
    if (tile <= 0 || (h <= tile && w <= tile)) return run_tile(image).to(image.device());
    auto out = torch::empty({image.size(0), arch_.out_channels, h * s, w * s},
                            torch::TensorOptions().dtype(torch::kFloat32).device(image.device()));
    for (std::int64_t y0 = 0; y0 < h; y0 += tile) {
      for (std::int64_t x0 = 0; x0 < w; x0 += tile) {
        const std::int64_t y1 = std::min(y0 + tile, h), x1 = std::min(x0 + tile, w);
        const std::int64_t py0 = std::max<std::int64_t>(y0 - pad, 0), py1 = std::min(y1 + pad, h);
        const std::int64_t px0 = std::max<std::int64_t>(x0 - pad, 0), px1 = std::min(x1 + pad, w);
        auto result = run_tile(image.slice(2, py0, py1).slice(3, px0, px1));
        const std::int64_t oy = (y0 - py0) * s, ox = (x0 - px0) * s;
        out.slice(2, y0 * s, y1 * s)
            .slice(3, x0 * s, x1 * s)
            .copy_(result.slice(2, oy, oy + (y1 - y0) * s).slice(3, ox, ox + (x1 - x0) * s));
      }
    }
    return out;
  } catch (const c10::Error& e) {
    if (!is_out_of_memory_message(e.what())) throw;
    throw Error(ErrorCode::kOomError, name_ + ": out of memory upscaling " + std::to_string(w) +
                                          "x" + std::to_string(h) + "; use a smaller tile size");
  }
}

Image NeuralUpscaler::upscale_once(const Image& image) const {
  c10::InferenceMode inference;
  auto input = to_tensor(image);
  if (input.size(1) == 1 && arch_.in_channels == 3) input = input.expand({1, 3, -1, -1});
  if (input.size(1) != arch_.in_channels) {
    throw Error(ErrorCode::kInvalidRequest, name_ + " takes " + std::to_string(arch_.in_channels) +
                                                "-channel images, got " +
                                                std::to_string(image.channels));
  }
  return to_image(run(input));
}

Image NeuralUpscaler::upscale(const Image& image, int width, int height) {
  if (width < 1 || height < 1) {
    throw Error(ErrorCode::kInvalidRequest,
                "upscale target " + std::to_string(width) + "x" + std::to_string(height));
  }
  Image current = image;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    if (current.width >= width && current.height >= height) break;
    const int before_w = current.width, before_h = current.height;
    current = upscale_once(current);
    if (current.width == before_w && current.height == before_h) break;  // a ×1 model: no progress
  }
  if (current.width != width || current.height != height) {
    current = pil_resize(current, width, height, PilFilter::kLanczos);
  }
  return current;
}

}  // namespace workers
