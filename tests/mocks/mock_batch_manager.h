// MockBatchManager: the whole batch in one run by default.
#pragma once

#include <gmock/gmock.h>

#include "inference/managers/batch_manager.h"

namespace workers {

class MockBatchManager : public BatchManager {
 public:
  MockBatchManager() {
    ON_CALL(*this, split(::testing::_)).WillByDefault([](const GenerationRequest& r) {
      return std::vector<BatchChunk>{{r.seed.value_or(0), 0, r.batch_size, r.batch_size}};
    });
  }
  MOCK_METHOD(std::vector<BatchChunk>, split, (const GenerationRequest&), (const, override));
};

}  // namespace workers
