// MockMemoryManager: nothing resident and no budget by default.
#pragma once

#include <gmock/gmock.h>

#include "inference/managers/memory_manager.h"

namespace workers {

class MockMemoryManager : public MemoryManager {
 public:
  MockMemoryManager() {
    ON_CALL(*this, resident()).WillByDefault(::testing::Return(std::vector<CacheEntryInfo>{}));
    ON_CALL(*this, budget()).WillByDefault(::testing::Return(0));
  }
  MOCK_METHOD(std::uint64_t, budget, (), (const, override));
  MOCK_METHOD(std::vector<CacheEntryInfo>, resident, (), (const, override));
  MOCK_METHOD(std::size_t, release, (const std::string&), (override));
};

}  // namespace workers
