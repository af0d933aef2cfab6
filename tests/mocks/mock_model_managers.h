// Mocks of the model tier's roles: ModelResolver, UnetManager, VaeManager, TextEncoderManager,
// TokenizerManager, LoraManager, ControlNetManager; MockModelManagers bundles one of each.
#pragma once

#include <memory>

#include <gmock/gmock.h>

#include "models/managers/model_managers.h"

namespace workers {

class MockModelResolver : public ModelResolver {
 public:
  MockModelResolver() {
    ON_CALL(*this, device()).WillByDefault(::testing::Return(std::string("cpu")));
    ON_CALL(*this, scheduler_config(::testing::_)).WillByDefault(::testing::Return(nlohmann::json::object()));
  }
  MOCK_METHOD(ModelHandle, open, (const std::string&, const std::string&, const std::string&), (const, override));
  MOCK_METHOD(ModelHandle, open_vae, (const std::string&, const std::string&), (const, override));
  MOCK_METHOD(nlohmann::json, scheduler_config, (const ModelHandle&), (const, override));
  MOCK_METHOD(std::string, device, (), (const, override));
  MOCK_METHOD(std::optional<ModelHandle>, opened, (const std::string&), (const, override));
  MOCK_METHOD(ComponentFacts, component_facts, (const ModelHandle&, const std::string&), (const, override));
};

class MockUnetManager : public UnetManager {
 public:
  using UnetManager::unet;
  MOCK_METHOD(std::shared_ptr<UNet2DConditionModel>, unet, (const ModelHandle&, Residency), (override));
};

class MockVaeManager : public VaeManager {
 public:
  MOCK_METHOD(std::shared_ptr<AutoencoderKL>, vae, (const ModelHandle&), (override));
};

class MockTextEncoderManager : public TextEncoderManager {
 public:
  using TextEncoderManager::text_encoders;
  MOCK_METHOD(std::shared_ptr<SdxlTextEncoders>, text_encoders, (const ModelHandle&, Residency), (override));
};

class MockTokenizerManager : public TokenizerManager {
 public:
  MOCK_METHOD(SdxlTokenizers, tokenizers, (const ModelHandle&), (override));
};

class MockLoraManager : public LoraManager {
 public:
  MOCK_METHOD(std::string, resolve, (const std::string&, const std::string&), (const, override));
  MOCK_METHOD(std::shared_ptr<const LoraAdapter>, adapter_at, (const std::string&, const std::string&, const std::string&),
              (override));
  MOCK_METHOD(std::string, key, (const std::string&), (const, override));
};

class MockControlNetManager : public ControlNetManager {
 public:
  MOCK_METHOD(ModelHandle, open, (const std::string&, const std::string&), (const, override));
  MOCK_METHOD(std::shared_ptr<ControlNetModel>, controlnet, (const ModelHandle&), (override));
};

// One StrictMock of each role, and the ModelManagers over them.
struct MockModelManagers {
  std::shared_ptr<::testing::StrictMock<MockModelResolver>> resolver =
      std::make_shared<::testing::StrictMock<MockModelResolver>>();
  std::shared_ptr<::testing::StrictMock<MockUnetManager>> unet = std::make_shared<::testing::StrictMock<MockUnetManager>>();
  std::shared_ptr<::testing::StrictMock<MockVaeManager>> vae = std::make_shared<::testing::StrictMock<MockVaeManager>>();
  std::shared_ptr<::testing::StrictMock<MockTextEncoderManager>> text_encoders =
      std::make_shared<::testing::StrictMock<MockTextEncoderManager>>();
  std::shared_ptr<::testing::StrictMock<MockTokenizerManager>> tokenizers =
      std::make_shared<::testing::StrictMock<MockTokenizerManager>>();
  std::shared_ptr<::testing::StrictMock<MockLoraManager>> loras = std::make_shared<::testing::StrictMock<MockLoraManager>>();
  std::shared_ptr<::testing::StrictMock<MockControlNetManager>> controlnets =
      std::make_shared<::testing::StrictMock<MockControlNetManager>>();

  ModelManagers roles() const { return {resolver, unet, vae, text_encoders, tokenizers, loras, controlnets}; }
};

}  // namespace workers
