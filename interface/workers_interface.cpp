#include "interface/workers_interface.h"

#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "interface/composition.h"
#include "utilities/logging.h"

namespace workers {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
}  // namespace

struct WorkersInterface::Impl {
  WorkersConfig config;
  ManagersFactory factory;
  // serve()'s transport, kept from the managers the factory returned (compose_instructors
  // consumes them; the channel is built per serve() call, over its descriptors).
  ChannelFactory channel_factory;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread loop;
  std::thread::id loop_id;
  Instructors instructors;
  bool initialized = false;
  bool stopped = false;
  // Loop-thread state: set by a shutdown message; new inference requests are then refused.
  bool closing = false;
  std::function<void()> on_shutdown_message;  // loop thread; set by serve()

  void handle(DecodeResult decoded, Clock::time_point start, const EventCallback& on_event);
  void dispatch(const Message& message, ResponseMeta meta, Clock::time_point start, const EventCallback& on_event);
  // The one final response of a queued job (success or failure), sent through on_event.
  JobCallbacks final_callbacks(ResponseMeta meta, Clock::time_point start, const EventCallback& on_event);
  nlohmann::json status();
};

WorkersInterface::WorkersInterface(WorkersConfig config)
    : WorkersInterface(std::move(config), production_managers) {}

WorkersInterface::WorkersInterface(WorkersConfig config, ManagersFactory factory) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->factory = std::move(factory);
}

WorkersInterface::~WorkersInterface() { shutdown(); }

const WorkersConfig& WorkersInterface::config() const { return impl_->config; }

boost::asio::io_context& WorkersInterface::io_context() { return impl_->io; }

void WorkersInterface::initialize() {
  if (impl_->initialized) return;
  for (const auto& warning : impl_->config.warnings) get_logger()->warn("config: {}", warning);
  Managers managers = impl_->factory(impl_->config);
  impl_->channel_factory = managers.channel;
  impl_->instructors = compose_instructors(impl_->config, impl_->io, std::move(managers));
  impl_->instructors.device->initialize();
  impl_->instructors.postprocessing->initialize();
  impl_->work.emplace(impl_->io.get_executor());
  impl_->loop = std::thread([impl = impl_.get()] {
    // A handler that throws must not end the loop (and with it every later request).
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        get_logger()->error("event loop handler failed, loop continues: {}", e.what());
      }
    }
  });
  impl_->loop_id = impl_->loop.get_id();
  impl_->initialized = true;
}

void WorkersInterface::submit(const nlohmann::json& request, EventCallback on_event) {
  if (!impl_->initialized || impl_->stopped) {
    throw Error(ErrorCode::kWorkerUnavailable, "WorkersInterface is not running (call initialize() first)");
  }
  const auto start = Clock::now();
  boost::asio::post(impl_->io, [impl = impl_.get(), request, start, on_event = std::move(on_event)] {
    impl->handle(impl->instructors.communication->decode(request), start, on_event);
  });
}

nlohmann::json WorkersInterface::process(const nlohmann::json& request) {
  if (std::this_thread::get_id() == impl_->loop_id) {
    throw Error(ErrorCode::kInternalError, "process() was called from an event callback; use submit() there");
  }
  auto promise = std::make_shared<std::promise<nlohmann::json>>();
  auto future = promise->get_future();
  submit(request, [promise](const nlohmann::json& message) {
    if (!message.contains("event")) promise->set_value(message);
  });
  return future.get();
}

void WorkersInterface::shutdown() {
  if (!impl_->initialized || impl_->stopped) return;
  impl_->stopped = true;
  std::promise<void> idle;
  boost::asio::post(impl_->io, [&] { impl_->instructors.inference->when_idle([&] { idle.set_value(); }); });
  idle.get_future().wait();
  impl_->instructors.inference->stop();
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->loop.joinable()) impl_->loop.join();
}

int WorkersInterface::serve(int input_fd, int output_fd) {
  initialize();
  Impl& impl = *impl_;
  if (!impl.channel_factory) {
    throw Error(ErrorCode::kConfigError, "serve() needs a channel: the managers factory set none");
  }
  std::shared_ptr<Channel> channel = impl.channel_factory(impl.io, input_fd, output_fd, impl.config.communication);
  std::promise<int> exit_code;
  bool finishing = false;  // loop thread only
  auto send = [channel](const nlohmann::json& message) { channel->send(message); };
  auto finish = [&impl, &finishing, &exit_code, channel] {
    if (finishing) return;
    finishing = true;
    impl.instructors.inference->when_idle(
        [&exit_code, channel] { channel->when_flushed([&exit_code] { exit_code.set_value(0); }); });
  };
  // SIGINT/SIGTERM end serving like EOF: stop taking work, drain, flush, exit 0. The drain has
  // a deadline (shutdown_grace_seconds); a second signal or the deadline answers every job still
  // queued or running with WORKER_UNAVAILABLE, so none is left without a response.
  boost::asio::signal_set signals(impl.io, SIGINT, SIGTERM);
  boost::asio::steady_timer grace(impl.io);
  bool signalled = false;  // loop thread only
  auto abandon_jobs = [&impl](const std::string& why) {
    const auto answered = impl.instructors.inference->abandon(
        Error(ErrorCode::kWorkerUnavailable, "the worker shut down before the job finished (" + why + ")"));
    if (answered > 0) get_logger()->warn("{}: {} unfinished job(s) answered WORKER_UNAVAILABLE", why, answered);
  };
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal_number) {
        if (ec) return;
        if (signalled) {
          abandon_jobs("signal " + std::to_string(signal_number) + " while draining");
          return;
        }
        signalled = true;
        const double seconds = impl.config.main_interface.shutdown_grace_seconds;
        get_logger()->info("signal {}: draining for up to {} s, then exiting", signal_number, seconds);
        impl.closing = true;
        finish();
        signals.async_wait(on_signal);  // a second signal cuts the drain short
        grace.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
        grace.async_wait([&abandon_jobs](const boost::system::error_code& timer_ec) {
          if (!timer_ec) abandon_jobs("shutdown grace period over");
        });
      };
  signals.async_wait(on_signal);
  boost::asio::post(impl.io, [&] {
    impl.on_shutdown_message = finish;
    Channel::Handlers handlers;
    handlers.on_line = [&impl, send](std::string_view line) {
      impl.handle(impl.instructors.communication->decode_line(line), Clock::now(), send);
    };
    handlers.on_overflow = [&impl, send](std::size_t bytes) {
      send(impl.instructors.communication->failure(ResponseMeta{},
                                                   impl.instructors.communication->overflow_error(bytes)));
    };
    handlers.on_eof = finish;
    channel->start(std::move(handlers));
  });
  int code = exit_code.get_future().get();
  boost::asio::post(impl.io, [&signals, &grace] {
    signals.cancel();
    grace.cancel();
  });
  shutdown();
  impl.on_shutdown_message = nullptr;
  channel->close();  // the loop has stopped: no handler can run concurrently
  return code;
}

void WorkersInterface::Impl::handle(DecodeResult decoded, Clock::time_point start, const EventCallback& on_event) {
  ResponseMeta meta;
  meta.request_id = decoded.request_id;
  meta.message_type = decoded.response_type;
  meta.warnings = decoded.warnings;
  if (decoded.error) {
    meta.execution_time = seconds_since(start);
    on_event(instructors.communication->failure(meta, *decoded.error));
    return;
  }
  const Message& message = *decoded.message;
  meta.message_type = response_type(message.type);
  try {
    dispatch(message, meta, start, on_event);
  } catch (const Error& e) {
    meta.execution_time = seconds_since(start);
    on_event(instructors.communication->failure(meta, e));
  } catch (const std::exception& e) {
    meta.execution_time = seconds_since(start);
    on_event(instructors.communication->failure(meta, Error(ErrorCode::kInternalError, e.what())));
  }
}

void WorkersInterface::Impl::dispatch(const Message& message, ResponseMeta meta, Clock::time_point start,
                                      const EventCallback& on_event) {
  auto reply = [&](nlohmann::json data) {
    meta.execution_time = seconds_since(start);
    on_event(instructors.communication->success(meta, std::move(data)));
  };
  switch (message.type) {
    case MessageType::kStatus:
      return reply(status());
    case MessageType::kModelLoad:
    case MessageType::kModelUnload: {
      // Building the networks takes seconds for a full-size model: off the loop, in the queue
      // (unloads too, so they keep their order relative to loads and to running jobs).
      const bool load = message.type == MessageType::kModelLoad;
      instructors.inference->submit_task(
          message.request_id,
          [model = instructors.model, reference = message.model, load] {
            return load ? model->load_response(reference) : model->unload_response(reference);
          },
          final_callbacks(meta, start, on_event));
      return;
    }
    case MessageType::kCancel: {
      JobState was = instructors.inference->cancel(message.cancel_target);
      return reply({{"target_request_id", message.cancel_target},
                    {"state", was == JobState::kQueued ? "queued" : "running"},
                    {"cancelled", true}});
    }
    case MessageType::kShutdown:
      closing = true;
      reply({{"shutting_down", true}, {"status", instructors.inference->status()}});
      if (on_shutdown_message) on_shutdown_message();
      return;
    case MessageType::kInference:
    case MessageType::kPostprocess:
      break;
  }
  if (closing) throw Error(ErrorCode::kWorkerUnavailable, "the worker is shutting down; request refused");
  if (message.type == MessageType::kPostprocess) {
    // No generation: the image is read on a compute thread, then the planned stages run on it.
    JobPlan plan;
    plan.request = *message.generation;
    plan.stages = instructors.postprocessing->stages(plan.request);
    JobCallbacks callbacks = final_callbacks(meta, start, on_event);
    instructors.inference->submit_postprocess(
        std::move(plan),
        [conditioning = instructors.conditioning](const JobPlan& job, const JobContext& context) {
          context.report({0, 1, "postprocessing"});
          SourceImage source = conditioning->source_image(job.request.source_image, "image");
          GenerationResult result;
          result.images.push_back(std::move(source.image));
          result.metadata = {{"pipeline", "postprocess"},
                             {"source_image", job.request.source_image},
                             {"source_parameters", source.parameters}};
          return result;
        },
        std::move(callbacks));
    return;
  }
  // Each instructor decides once; the job carries the decisions down (models are resolved when
  // the job starts: that reads the model folders, off the loop).
  JobPlan plan;
  plan.request = *message.generation;
  plan.conditioning = instructors.conditioning->check(plan.request);
  plan.scheduler = instructors.scheduler->resolve(plan.request);
  plan.stages = instructors.postprocessing->stages(plan.request);
  const std::string id = message.request_id;
  JobCallbacks callbacks = final_callbacks(meta, start, on_event);
  callbacks.on_progress = [this, id, start, on_event](const ProgressUpdate& update) {
    auto event = instructors.communication->progress(id, update, seconds_since(start));
    if (!event.is_null()) on_event(event);
  };
  instructors.inference->submit(std::move(plan), std::move(callbacks));
}

JobCallbacks WorkersInterface::Impl::final_callbacks(ResponseMeta meta, Clock::time_point start,
                                                     const EventCallback& on_event) {
  JobCallbacks callbacks;
  callbacks.on_done = [this, meta, start, on_event](GenerationResult result) mutable {
    meta.execution_time = seconds_since(start);
    meta.warnings.insert(meta.warnings.end(), result.warnings.begin(), result.warnings.end());
    on_event(instructors.communication->success(meta, std::move(result.data)));
  };
  callbacks.on_failed = [this, meta, start, on_event](const Error& error) mutable {
    meta.execution_time = seconds_since(start);
    on_event(instructors.communication->failure(meta, error));
  };
  return callbacks;
}

nlohmann::json WorkersInterface::Impl::status() {
  return {{"version", SDXL_WORKERS_VERSION},
          {"device", instructors.device->status()},
          {"models", instructors.model->status()},
          {"queue", instructors.inference->status()},
          {"memory", instructors.inference->memory_status()},
          {"schedulers", instructors.scheduler->status()},
          {"conditioning", instructors.conditioning->status()},
          {"postprocessing", instructors.postprocessing->status()}};
}

}  // namespace workers
