// MockMemoryManager: nothing resident, no budget, an unplanned (all-resident) plan and low
// pressure by default.
#pragma once

#include <gmock/gmock.h>

#include "inference/managers/memory_manager.h"

namespace workers {

class MockMemoryManager : public MemoryManager {
 public:
  MockMemoryManager() {
    ON_CALL(*this, resident()).WillByDefault(::testing::Return(std::vector<CacheEntryInfo>{}));
    ON_CALL(*this, budget()).WillByDefault(::testing::Return(0));
    ON_CALL(*this, cache_budget()).WillByDefault(::testing::Return(0));
    ON_CALL(*this, plan(::testing::_, ::testing::_)).WillByDefault(::testing::Return(MemoryPlan{}));
    ON_CALL(*this, pressure()).WillByDefault(::testing::Return(MemoryPressure{}));
    ON_CALL(*this, status()).WillByDefault(::testing::Return(nlohmann::json::object()));
  }
  MOCK_METHOD(std::uint64_t, budget, (), (const, override));
  MOCK_METHOD(std::uint64_t, cache_budget, (), (const, override));
  MOCK_METHOD(std::vector<CacheEntryInfo>, resident, (), (const, override));
  MOCK_METHOD(std::size_t, release, (const std::string&), (override));
  MOCK_METHOD(MemoryPlan, plan, (const JobPlan&, MemoryRung), (override));
  MOCK_METHOD(void, recover, (), (override));
  MOCK_METHOD(MemoryPressure, pressure, (), (override));
  MOCK_METHOD(void, admit, (), (override));
  MOCK_METHOD(nlohmann::json, status, (), (override));
};

// For tests about something else: the memory manager is asked to admit and plan every job and
// for its status, and answers "no limit" (an unplanned plan, low pressure).
inline void allow_unlimited_memory(MockMemoryManager& memory) {
  using ::testing::AnyNumber;
  EXPECT_CALL(memory, admit()).Times(AnyNumber());
  EXPECT_CALL(memory, plan(::testing::_, ::testing::_)).Times(AnyNumber());
  EXPECT_CALL(memory, pressure()).Times(AnyNumber());
  EXPECT_CALL(memory, status()).Times(AnyNumber());
}

}  // namespace workers
