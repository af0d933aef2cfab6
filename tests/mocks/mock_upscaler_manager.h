// MockUpscalerManager and MockImageUpscaler: no defaults; a test states the calls it expects.
#pragma once

#include <gmock/gmock.h>

#include "postprocessing/managers/upscaler_manager.h"

namespace workers {

class MockImageUpscaler : public ImageUpscaler {
 public:
  MOCK_METHOD(std::string, name, (), (const, override));
  MOCK_METHOD(int, native_scale, (), (const, override));
  MOCK_METHOD(Image, upscale, (const Image&, int, int), (override));
};

class MockUpscalerManager : public UpscalerManager {
 public:
  MOCK_METHOD(bool, is_filter, (const std::string&), (const, override));
  MOCK_METHOD(void, check, (const std::string&, const std::string&), (const, override));
  MOCK_METHOD(std::shared_ptr<ImageUpscaler>, upscaler, (const std::string&, int, const std::string&), (override));
  MOCK_METHOD(nlohmann::json, status, (), (const, override));
};

}  // namespace workers
