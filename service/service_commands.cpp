#include "service/service_commands.h"

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "communication/envelope.h"
#include "interface/workers_interface.h"
#include "service/http_api.h"
#include "service/http_server.h"
#include "service/job_request.h"
#include "service/queue_worker.h"
#include "service/redis_client.h"
#include "utilities/logging.h"

namespace workers {
namespace {

constexpr ErrorCode kCfg = ErrorCode::kConfigError;
using nlohmann::json;

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

unsigned short port_of(const CliOptions& options) {
  const std::string text = options.value("port");
  try {
    std::size_t used = 0;
    const long value = std::stol(text, &used);
    if (used == text.size() && value >= 0 && value <= 65535) return static_cast<unsigned short>(value);
  } catch (const std::exception&) {
  }
  throw Error(kCfg, "--port: must be a TCP port 0-65535 (0: any free port), got \"" + text + "\"", "port");
}

// Runs `work` on the loop thread and waits for it (rethrowing what it threw).
template <typename F>
auto on_loop(WorkersInterface& engine, F work) -> decltype(work()) {
  std::packaged_task<decltype(work())()> task(std::move(work));
  auto result = task.get_future();
  boost::asio::post(engine.io_context(), [&task] { task(); });
  return result.get();
}

// The HTTP side of a command: the API and its server on the engine's loop.
struct HttpSide {
  std::unique_ptr<HttpApi> api;
  std::unique_ptr<HttpServer> server;
  std::string url;
};

HttpSide start_http(WorkersInterface& engine, const ServiceConfig& config, ServiceIdentity identity,
                    const CliOptions& options, const QueueWorker* worker) {
  const std::string host = options.value("host", "127.0.0.1");
  if (config.http.api_key.empty() && !loopback(host)) {
    throw Error(kCfg,
                "--host: serving " + host +
                    " without an API key is refused; set SDXL_WORKERS_API_KEY (or "
                    "workers.instructors.communication.http.api_key), or bind 127.0.0.1",
                "host");
  }
  const unsigned short port = port_of(options);
  HttpSide side;
  side.api = std::make_unique<HttpApi>(engine, config, identity, worker);
  HttpServerLimits limits;
  limits.max_body_bytes = config.http.max_body_bytes;
  limits.max_header_bytes = config.http.max_header_bytes;
  limits.read_timeout_seconds = config.http.read_timeout_seconds;
  limits.idle_timeout_seconds = config.http.idle_timeout_seconds;
  limits.max_connections = config.http.max_connections;
  HttpApi* api = side.api.get();
  side.server = std::make_unique<HttpServer>(engine.io_context(), limits,
                                             [api](const HttpRequest& request, std::shared_ptr<HttpReply> reply) {
                                               api->handle(request, std::move(reply));
                                             });
  HttpServer* server = side.server.get();
  const unsigned short bound = on_loop(engine, [server, host, port] { return server->listen(host, port); });
  const bool v6 = host.find(':') != std::string::npos;
  side.url = "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(bound);
  side.api->set_url(side.url);
  get_logger()->info("HTTP API on {} ({}{})", side.url, identity.mode,
                     config.http.api_key.empty() ? ", no API key" : ", API key required");
  return side;
}

void stop_http(WorkersInterface& engine, HttpSide& side) {
  if (!side.server) return;
  on_loop(engine, [&side] {
    side.api->stop();
    side.server->stop();
    return 0;
  });
}

// Waits on the loop for SIGINT/SIGTERM: the first runs `first`, a second runs `second`.
class Signals {
 public:
  Signals(WorkersInterface& engine, std::function<void(int)> first, std::function<void(int)> second)
      : set_(engine.io_context(), SIGINT, SIGTERM), first_(std::move(first)), second_(std::move(second)) {
    arm();
  }
  ~Signals() {
    boost::system::error_code ignored;
    set_.cancel(ignored);
  }

 private:
  void arm() {
    set_.async_wait([this](const boost::system::error_code& ec, int number) {
      if (ec) return;
      if (count_++ == 0) {
        first_(number);
        arm();
      } else {
        second_(number);
      }
    });
  }
  boost::asio::signal_set set_;
  std::function<void(int)> first_, second_;
  int count_ = 0;
};

int run_http(const CliOptions& options, const WorkersConfig& config, ServiceConfig service, std::ostream& out) {
  ServiceIdentity identity{options.value("worker-id", hostname() + "-" + std::to_string(::getpid())),
                           service.redis.url.empty() ? "http" : "front_door", hostname(), ""};
  WorkersInterface engine(config);
  engine.initialize();
  HttpSide http = start_http(engine, service, identity, options, nullptr);
  std::promise<void> stop;
  {
    Signals signals(
        engine,
        [&](int number) {
          get_logger()->info("signal {}: no new requests; finishing accepted jobs", number);
          http.api->stop();
          http.server->stop();
          stop.set_value();
        },
        [](int number) {
          get_logger()->warn("signal {} while draining: exiting now", number);
          std::_Exit(1);
        });
    out << json{{"event", "listening"}, {"url", http.url}, {"worker_id", identity.worker_id}, {"mode", identity.mode}}
               .dump()
        << std::endl;
    stop.get_future().wait();
    engine.shutdown();  // every accepted job finishes (the loop stops after)
  }
  http.api->finish_callbacks();
  return 0;
}

int run_worker(const CliOptions& options, WorkersConfig config, ServiceConfig service, std::ostream& out) {
  if (service.redis.url.empty()) {
    throw Error(kCfg, "worker needs --redis URL (or SDXL_WORKERS_REDIS_URL): redis://host:port/db or unix:///path",
                "redis");
  }
  parse_redis_url(service.redis.url, "redis");
  const std::string worker_id = options.value("worker-id", hostname() + "-" + std::to_string(::getpid()));
  if (!valid_job_id(worker_id)) {
    throw Error(kCfg, "--worker-id: must be 1-100 letters, digits, '.', '_' or '-', got \"" + worker_id + "\"",
                "worker-id");
  }
  WorkerSettings settings;
  settings.worker_id = worker_id;
  settings.output_root = std::filesystem::absolute(config.postprocessing.output_root).string();
  settings.staging_root = settings.output_root + "/.staging/" + worker_id;
  // The staging folder is this worker id's own: what is in it was left by an earlier process with
  // this id that died mid-job (that job is claimed again and written afresh).
  std::filesystem::remove_all(settings.staging_root);
  std::filesystem::create_directories(settings.staging_root);
  config.postprocessing.output_root = settings.staging_root;  // files are published when the job is done
  WorkersInterface engine(config);
  engine.initialize();
  settings.info = worker_capabilities(service);
  settings.info["worker_id"] = worker_id;
  settings.info["host"] = hostname();
  settings.info["pid"] = ::getpid();
  settings.info["started_at"] = utc_timestamp();
  settings.info["url"] = nullptr;
  HttpSide http;
  ServiceIdentity identity{worker_id, "worker", hostname(), ""};
  auto worker = std::make_unique<QueueWorker>(engine, service, settings);
  if (options.values.count("port")) {
    http = start_http(engine, service, identity, options, worker.get());
    worker->set_url(http.url);  // registered with the URL its /health answers on
  }
  worker->start();
  int code = 0;
  {
    Signals signals(
        engine, [&](int number) {
          get_logger()->info("signal {}: draining (the current job finishes, no new ones are taken)", number);
          worker->drain();
        },
        [](int number) {
          get_logger()->warn("signal {} while draining: exiting now; the job in hand returns to the queue", number);
          std::_Exit(1);
        });
    if (http.server) {
      out << json{{"event", "listening"}, {"url", http.url}, {"worker_id", worker_id}, {"mode", "worker"}}.dump()
          << std::endl;
    } else {
      out << json{{"event", "consuming"}, {"worker_id", worker_id}, {"redis", parse_redis_url(service.redis.url).text}}
                 .dump()
          << std::endl;
    }
    code = worker->wait();
    stop_http(engine, http);
  }
  engine.shutdown();
  return code;
}

}  // namespace

int run_service(const CliOptions& options, const WorkersConfig& config, std::ostream& out) {
  ServiceConfig service = load_service_config(options.config, process_environment());
  for (const auto& warning : service.warnings) get_logger()->warn("config: {}", warning);
  if (options.values.count("redis")) service.redis.url = options.value("redis");
  if (options.command == "http") return run_http(options, config, std::move(service), out);
  return run_worker(options, config, std::move(service), out);
}

}  // namespace workers
