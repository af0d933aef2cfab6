// BatchManager: the role that decides how a request's batch runs: in chunks the device can hold,
// each chunk giving exactly the images the whole batch would (same seeds, same draws), or one
// seeded run per image (batch_seeds "per_image", A1111). Torch-free; the decision goes into the
// JobPlan.
#pragma once

#include <vector>

#include "inference/managers/job_plan.h"

namespace workers {

class BatchManager {
 public:
  virtual ~BatchManager() = default;
  // `request.seed` is set. The chunks cover images 0 .. batch_size - 1 in order.
  virtual std::vector<BatchChunk> split(const GenerationRequest& request) const = 0;
};

// At most `max_chunk` images per run (0: the whole batch in one run).
class ChunkingBatchManager : public BatchManager {
 public:
  explicit ChunkingBatchManager(int max_chunk) : max_chunk_(max_chunk) {}
  std::vector<BatchChunk> split(const GenerationRequest& request) const override;

 private:
  int max_chunk_;
};

}  // namespace workers
