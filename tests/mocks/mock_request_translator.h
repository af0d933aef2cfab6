// MockRequestTranslator: one legacy wire format the test defines. By default it recognises
// nothing, so a decoder built with it sees only canonical messages until a test says otherwise.
#pragma once

#include <string_view>

#include <gmock/gmock.h>

#include "compat/request_translator.h"

namespace workers {

class MockRequestTranslator : public compat::RequestTranslator {
 public:
  MockRequestTranslator() {
    ON_CALL(*this, format()).WillByDefault(::testing::Return(std::string_view("mock")));
    ON_CALL(*this, recognizes(::testing::_)).WillByDefault(::testing::Return(false));
  }
  MOCK_METHOD(std::string_view, format, (), (const, override));
  MOCK_METHOD(bool, recognizes, (const nlohmann::json& message), (const, override));
  MOCK_METHOD(compat::TranslatedMessage, translate, (const nlohmann::json& message), (const, override));
};

}  // namespace workers
