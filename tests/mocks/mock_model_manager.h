// MockModelManager: nothing loaded by default.
#pragma once

#include <gmock/gmock.h>

#include "models/managers/model_manager.h"

namespace workers {

class MockModelManager : public ModelManager {
 public:
  MockModelManager() {
    ON_CALL(*this, loaded()).WillByDefault(::testing::Return(std::vector<LoadedModel>{}));
  }
  MOCK_METHOD(LoadedModel, load, (const ModelReference&), (override));
  MOCK_METHOD(bool, unload, (const ModelReference&), (override));
  MOCK_METHOD(std::vector<LoadedModel>, loaded, (), (const, override));
};

}  // namespace workers
