#include "inference/managers/batch_manager.h"

#include <algorithm>

namespace workers {

std::vector<BatchChunk> ChunkingBatchManager::split(const GenerationRequest& request) const {
  const std::uint64_t seed = request.seed.value_or(0);
  const int batch = std::max(request.batch_size, 1);
  std::vector<BatchChunk> chunks;
  if (request.batch_seeds == "per_image" && batch > 1) {
    // A1111: image i is a run of its own seeded seed + i (wrapping past 2^64 - 1, as unsigned seeds do).
    for (int i = 0; i < batch; ++i) chunks.push_back({seed + static_cast<std::uint64_t>(i), 0, 1, 1});
    return chunks;
  }
  // One generator for the batch (diffusers, ComfyUI): every chunk draws for the whole batch and
  // keeps its own images, so its images are those of one run over the whole batch.
  const int step = max_chunk_ > 0 ? max_chunk_ : batch;
  for (int offset = 0; offset < batch; offset += step) {
    chunks.push_back({seed, offset, std::min(step, batch - offset), batch});
  }
  return chunks;
}

}  // namespace workers
