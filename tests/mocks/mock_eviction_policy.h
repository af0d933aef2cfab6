// MockEvictionPolicy: a budget of 0 (no limit) and nothing to evict by default.
#pragma once

#include <gmock/gmock.h>

#include "models/managers/model_cache.h"

namespace workers {

class MockEvictionPolicy : public EvictionPolicy {
 public:
  MockEvictionPolicy() {
    ON_CALL(*this, budget()).WillByDefault(::testing::Return(0));
    ON_CALL(*this, victims(::testing::_, ::testing::_, ::testing::_))
        .WillByDefault(::testing::Return(std::vector<std::string>{}));
  }
  MOCK_METHOD(std::uint64_t, budget, (), (const, override));
  MOCK_METHOD(std::vector<std::string>, victims, (const std::vector<CacheEntryInfo>&, std::uint64_t, const std::string&),
              (const, override));
};

}  // namespace workers
