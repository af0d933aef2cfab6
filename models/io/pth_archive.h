// PyTorch .pth/.pt files as torch.save writes them since 1.6: a zip archive holding
// <prefix>/data.pkl (the pickled object) and <prefix>/data/<key> (one record per storage). The
// pickle is read by pickle_reader, which executes nothing, so a checkpoint from anywhere is safe
// to open; anything in it beyond tensors, dicts, lists and numbers is refused.
// Torch-free API (libzip inside), so tools and tests need no libtorch to read one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace workers {

struct PthTensor {
  std::string dtype;                // safetensors spelling: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> data;   // contiguous row-major, little-endian, the strided view materialised
};

// Limits on what one archive may make us read.
constexpr std::uint64_t kMaxPthPickleBytes = 64ull << 20;  // data.pkl (a big UNet's is well under 1 MiB)

// The state dict of a torch.save zip archive: the top-level dict of tensors, or, when it holds
// them, its "params_ema" entry, else "params" (Real-ESRGAN / BasicSR releases), else
// "state_dict" / "model". Entries that are not tensors (a "version" number...) are skipped.
// Throws Error(MODEL_LOAD_ERROR) "<path>: <problem>"; the legacy (pre-1.6) format is refused
// with what to do about it.
std::map<std::string, PthTensor> read_pth_state_dict(const std::string& path);

}  // namespace workers
