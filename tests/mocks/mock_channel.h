// MockChannel: a transport with no descriptors behind it, so a test states every message serve()
// sends and drives the handlers itself. By default when_flushed runs `done` at once (nothing pends).
#pragma once

#include <functional>

#include <gmock/gmock.h>

#include "communication/channel.h"

namespace workers {

class MockChannel : public Channel {
 public:
  MockChannel() {
    ON_CALL(*this, when_flushed(::testing::_)).WillByDefault([](const std::function<void()>& done) { done(); });
  }
  MOCK_METHOD(void, start, (Handlers handlers), (override));
  MOCK_METHOD(void, send, (const nlohmann::json& message), (override));
  MOCK_METHOD(void, when_flushed, (std::function<void()> done), (override));
  MOCK_METHOD(void, close, (), (override));
};

}  // namespace workers
