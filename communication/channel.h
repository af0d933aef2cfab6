// Channel: the role of a message transport (lines in, JSON objects out). StdioChannel is the
// JSON-lines implementation over stdin/stdout; tests mock it.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace workers {

class Channel {
 public:
  struct Handlers {
    std::function<void(std::string_view line)> on_line;
    std::function<void(std::size_t bytes)> on_overflow;  // a line longer than the cap was dropped
    std::function<void()> on_eof;
  };

  virtual ~Channel() = default;
  // Starts reading; handlers run on the event loop's thread.
  virtual void start(Handlers handlers) = 0;
  // Queues one message; safe from any thread; messages are written whole, in order, flushed.
  virtual void send(const nlohmann::json& message) = 0;
  // Runs `done` on the loop once everything sent so far has been written.
  virtual void when_flushed(std::function<void()> done) = 0;
  // Drops the handlers (they may hold the channel) and closes the transport. Call when the
  // event loop no longer runs the channel's handlers.
  virtual void close() = 0;
};

}  // namespace workers
