// WorkersInterface: the only entry point for hosts. Give it JSON requests (any supported format),
// get JSON responses and progress events back; everything else is behind it.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "utilities/config.h"

namespace boost::asio {
class io_context;
}

namespace workers {

struct Managers;

class WorkersInterface {
 public:
  // Receives progress events ({"event":"progress",...}) and then exactly one final response per
  // request. Called on the engine's event-loop thread: return quickly, never block on the engine.
  using EventCallback = std::function<void(const nlohmann::json& message)>;
  using ManagersFactory = std::function<Managers(const WorkersConfig&)>;

  // The production object graph (interface/composition.cpp).
  explicit WorkersInterface(WorkersConfig config);
  // An injected graph: `factory` supplies the managers (tests use mocks).
  WorkersInterface(WorkersConfig config, ManagersFactory factory);
  ~WorkersInterface();
  WorkersInterface(const WorkersInterface&) = delete;
  WorkersInterface& operator=(const WorkersInterface&) = delete;

  // Applies the device policy and starts the event loop and compute threads.
  // Throws workers::Error(CONFIG_ERROR) when the configuration cannot be honoured.
  void initialize();
  // Blocks until the final response; never call it from an EventCallback.
  nlohmann::json process(const nlohmann::json& request);
  // Returns at once; events and the final response arrive through `on_event`.
  void submit(const nlohmann::json& request, EventCallback on_event);
  // Serves the JSON-lines protocol on two descriptors until end of input or a shutdown message,
  // then drains running jobs. Returns the process exit code (0).
  int serve(int input_fd, int output_fd);
  // Drains running jobs, stops the loop and the compute threads. Idempotent.
  void shutdown();

  const WorkersConfig& config() const;
  // The engine's event loop (running after initialize()), for hosts that serve their own I/O on
  // it (the HTTP service): their handlers then run on the thread that runs event callbacks.
  boost::asio::io_context& io_context();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace workers
