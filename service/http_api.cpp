#include "service/http_api.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "communication/envelope.h"
#include "communication/json_guard.h"
#include "communication/message_decoder.h"
#include "compat/request_translator.h"
#include "interface/workers_interface.h"
#include "service/callback.h"
#include "service/job_request.h"
#include "service/job_store.h"
#include "service/local_jobs.h"
#include "service/queue_worker.h"
#include "service/redis_client.h"
#include "utilities/logging.h"

namespace workers {
namespace {

using nlohmann::json;
constexpr ErrorCode kInvalid = ErrorCode::kInvalidRequest;

// Constant-time comparison of equal-length secrets: the API key must not leak through timing.
bool same_secret(const std::string& given, const std::string& key) {
  if (key.empty() || given.size() != key.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

// "/jobs/abc/events" against "/jobs/{id}/events" -> {id: abc}
bool match(const std::string& pattern, const std::string& path, std::string* id) {
  auto split = [](const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 1;
    while (start <= text.size()) {
      const auto slash = text.find('/', start);
      parts.push_back(text.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return parts;
  };
  if (path.empty() || path[0] != '/') return false;
  const auto want = split(pattern), got = split(path);
  if (want.size() != got.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{id}") {
      if (got[i].empty()) return false;
      *id = got[i];
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

json worker_capabilities(const ServiceConfig& config) {
  return {{"worker_type", "sdxl"},
          {"version", SDXL_WORKERS_VERSION},
          {"job_types", to_json(config)["job_types"]},
          {"capabilities",
           {"text2img", "img2img", "inpaint", "refiner", "lora", "controlnet", "hires_fix", "upscale",
            "postprocess", "safety_checker", "progress_events", "cancel"}},
          {"request_formats", {"canonical", "enhanced_sdxl", "envelope", "flat_seed"}},
          {"output_formats", {"png", "jpeg", "webp"}}};
}

struct HttpApi::Impl : std::enable_shared_from_this<HttpApi::Impl> {
  WorkersInterface& engine;
  ServiceConfig config;
  ServiceIdentity identity;
  const QueueWorker* worker;
  CallbackAllowList allow;
  std::unique_ptr<RedisClient> redis;  // loop thread only
  std::unique_ptr<JobStore> store;
  std::shared_ptr<LocalJobs> local;  // without Redis
  // The serve protocol's own decoder: a body whose fields the engine would refuse is answered 400
  // here, before anything is queued (checks that need models or the instructors run with the job).
  MessageDecoder decoder;
  std::vector<std::shared_ptr<boost::asio::steady_timer>> timers;
  unsigned long long next_request = 0;
  bool stopped = false;

  Impl(WorkersInterface& e, ServiceConfig c, ServiceIdentity i, const QueueWorker* w)
      : engine(e),
        config(std::move(c)),
        identity(std::move(i)),
        worker(w),
        allow(config.http.callback_hosts),
        decoder(compat::default_translators(), e.config().main_interface.limits, e.config().model.default_model) {
    if (!config.redis.url.empty()) {
      redis = std::make_unique<RedisClient>(parse_redis_url(config.redis.url, "redis"),
                                            std::min(5.0, config.http.read_timeout_seconds));
      store = std::make_unique<JobStore>(*redis, config.redis);
      store->ensure_group();
    }
    if (!store) local = std::make_shared<LocalJobs>(engine, identity.worker_id, config.http);
  }

  // ---- plumbing -------------------------------------------------------------------------------
  void fail(const std::shared_ptr<HttpReply>& reply, int status, const Error& error) {
    reply->send(error_response(status, error));
  }
  std::string request_id(const std::string& what) { return "http-" + what + "-" + std::to_string(++next_request); }
  // Runs `tick` every `period` until it returns false or the API stops.
  void every(std::chrono::milliseconds period, std::function<bool()> tick) {
    auto timer = std::make_shared<boost::asio::steady_timer>(engine.io_context());
    timers.push_back(timer);
    std::weak_ptr<Impl> weak = weak_from_this();
    auto step = std::make_shared<std::function<void()>>();
    *step = [weak, timer, period, tick = std::move(tick), step]() mutable {
      timer->expires_after(period);
      timer->async_wait([weak, timer, tick, step](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || self->stopped) {
          *step = nullptr;  // break the cycle
          return;
        }
        if (tick()) {
          (*step)();
        } else {
          self->timers.erase(std::remove(self->timers.begin(), self->timers.end(), timer), self->timers.end());
          *step = nullptr;
        }
      });
    };
    (*step)();
  }
  // The engine's status (data of a status_response), asynchronously.
  void engine_status(std::function<void(const json& data, const json& error)> done) {
    engine.submit({{"message_type", "status_request"}, {"request_id", request_id("status")}},
                  [done = std::move(done)](const json& message) {
                    if (message.contains("event")) return;
                    done(message.value("data", json(nullptr)), message.value("error", json(nullptr)));
                  });
  }

  bool authorized(const HttpRequest& request) const {
    if (config.http.api_key.empty()) return true;
    const std::string header = request.header("authorization");
    const std::string prefix = "Bearer ";
    if (header.size() <= prefix.size() || header.compare(0, prefix.size(), prefix) != 0) return false;
    return same_secret(header.substr(prefix.size()), config.http.api_key);
  }

  // ---- routes ---------------------------------------------------------------------------------
  void route(const HttpRequest& request, const std::shared_ptr<HttpReply>& reply) {
    struct Route {
      const char* method;
      const char* pattern;
      void (Impl::*handler)(const HttpRequest&, const std::string&, const std::shared_ptr<HttpReply>&);
      bool open;  // answered without the API key
    };
    static const Route kRoutes[] = {
        {"GET", "/health", &Impl::health, true},
        {"GET", "/worker/info", &Impl::info, false},
        {"GET", "/status", &Impl::status, false},
        {"GET", "/workers", &Impl::workers, false},
        {"POST", "/generate", &Impl::generate, false},
        {"GET", "/jobs/{id}", &Impl::get_job, false},
        {"DELETE", "/jobs/{id}", &Impl::cancel_job, false},
        {"GET", "/jobs/{id}/events", &Impl::events, false},
    };
    std::string allowed;
    for (const auto& r : kRoutes) {
      std::string id;
      if (!match(r.pattern, request.path, &id)) continue;
      if (request.method != r.method) {
        allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
        continue;
      }
      if (!r.open && !authorized(request)) {
        HttpResponse response =
            error_response(401, Error(kInvalid,
                                      request.header("authorization").empty()
                                          ? "authorization: this endpoint needs \"Authorization: Bearer <API key>\""
                                          : "authorization: the API key is not valid",
                                      "authorization"));
        response.headers.emplace_back("WWW-Authenticate", "Bearer");
        reply->send(std::move(response));
        return;
      }
      (this->*r.handler)(request, id, reply);
      return;
    }
    if (!allowed.empty()) {
      HttpResponse response = error_response(
          405, Error(kInvalid, "method: " + request.method + " is not allowed on " + request.path + " (allowed: " +
                                   allowed + ")",
                     "method"));
      response.headers.emplace_back("Allow", allowed);
      reply->send(std::move(response));
      return;
    }
    fail(reply, 404,
         Error(kInvalid,
               "path: no endpoint " + request.method + " " + request.path.substr(0, 200) +
                   " (endpoints: POST /generate, GET|DELETE /jobs/{id}, GET /jobs/{id}/events, GET /health, "
                   "GET /worker/info, GET /status, GET /workers)",
               "path"));
  }

  void generate(const HttpRequest& request, const std::string&, const std::shared_ptr<HttpReply>& reply) {
    json body;
    try {
      body = parse_protocol_line(request.body);
    } catch (const Error& e) {
      std::string message = e.what();
      const std::string old_prefix = "line ";
      if (message.rfind(old_prefix, 0) == 0) message = "body " + message.substr(old_prefix.size());
      return fail(reply, 400, Error(kInvalid, message, "body"));
    }
    ServiceJob job;
    try {
      job = prepare_job(body, config, allow);
    } catch (const Error& e) {
      return fail(reply, 400, e);
    }
    DecodeResult decoded = decoder.decode(job.request);
    if (decoded.error) {
      ResponseMeta meta{job.job_id, decoded.response_type, decoded.warnings, 0.0};
      return reply->send(json_response(400, make_failure(meta, *decoded.error)));
    }
    job.warnings.insert(job.warnings.end(), decoded.warnings.begin(), decoded.warnings.end());
    const bool wait = request.query.count("wait") && request.query.at("wait") != "false" && request.query.at("wait") != "0";
    if (store) return enqueue(std::move(body), std::move(job), wait, reply);
    run_here(std::move(job), wait, reply);
  }

  json accepted(const std::string& job_id, const std::string& state, const std::vector<std::string>& warnings) {
    return {{"job_id", job_id},
            {"state", state},
            {"status_url", "/jobs/" + job_id},
            {"events_url", "/jobs/" + job_id + "/events"},
            {"warnings", warnings}};
  }

  void enqueue(json body, ServiceJob job, bool wait, const std::shared_ptr<HttpReply>& reply) {
    body["job_id"] = job.job_id;
    try {
      store->enqueue(job.job_id, body);
    } catch (const Error& e) {
      return fail(reply, e.code() == kInvalid ? 409 : 503, e);
    }
    get_logger()->info("job {} enqueued into {}", job.job_id, store->stream());
    if (!wait) return reply->send(json_response(202, accepted(job.job_id, "queued", job.warnings)));
    std::string id = job.job_id;
    every(std::chrono::milliseconds(100), [this, id, reply] {
      if (reply->closed()) return false;
      auto view = store_view(id);
      if (!view) {
        fail(reply, 404, Error(kInvalid, "job_id: job " + id + " expired while waiting", "job_id"));
        return false;
      }
      if (!is_final_state(view->value("state", ""))) return true;
      reply->send(json_response(200, *view));
      return false;
    });
  }

  std::optional<json> store_view(const std::string& id) {
    try {
      auto view = store->get(id);
      if (view) view->erase("callback_body");  // the worker's copy for a retried delivery
      return view;
    } catch (const Error& e) {
      get_logger()->warn("reading job {} from Redis: {}", id, e.what());
      return std::nullopt;
    }
  }

  void run_here(const ServiceJob& job, bool wait, const std::shared_ptr<HttpReply>& reply) {
    try {
      local->run(job, wait ? reply : nullptr);
    } catch (const Error& e) {
      return fail(reply, e.code() == kInvalid ? 409 : 503, e);
    }
    if (!wait) reply->send(json_response(202, accepted(job.job_id, "queued", job.warnings)));
  }

  static Error unknown_job(const std::string& id) {
    return Error(kInvalid, "job_id: no job " + id + " (unknown or expired)", "job_id");
  }

  void get_job(const HttpRequest&, const std::string& id, const std::shared_ptr<HttpReply>& reply) {
    auto view = store ? store_view(id) : local->view(id);
    if (!view) return fail(reply, 404, unknown_job(id));
    reply->send(json_response(200, *view));
  }

  void cancel_job(const HttpRequest&, const std::string& id, const std::shared_ptr<HttpReply>& reply) {
    std::optional<std::string> state;
    if (store) {
      if (auto view = store_view(id)) state = view->value("state", "");
      if (state && !is_final_state(*state)) store->request_cancel(id);
    } else {
      state = local->cancel(id);
    }
    if (!state) return fail(reply, 404, unknown_job(id));
    if (is_final_state(*state)) {
      return fail(reply, 409, Error(kInvalid, "job_id: job " + id + " already finished (state " + *state + ")", "job_id"));
    }
    reply->send(json_response(202, {{"job_id", id}, {"cancelling", true}, {"state", *state}}));
  }

  void events(const HttpRequest&, const std::string& id, const std::shared_ptr<HttpReply>& reply) {
    if (!store) {
      if (!local->stream(id, reply)) fail(reply, 404, unknown_job(id));
      return;
    }
    // Redis: the hash is polled; a change of progress is an event.
    auto view = store_view(id);
    if (!view) return fail(reply, 404, unknown_job(id));
    reply->start_events();
    reply->event("state", view->dump());
    auto last = std::make_shared<json>((*view)["progress"]);
    auto emit = [reply, last](const json& now) {
      if (now["progress"] != *last) {
        *last = now["progress"];
        reply->event("progress", last->dump());
      }
      const std::string state = now.value("state", "");
      if (!is_final_state(state)) return true;
      reply->event(state, now.dump());
      reply->end_events();
      return false;
    };
    if (!emit(*view)) return;
    every(std::chrono::milliseconds(200), [this, id, reply, emit] {
      if (reply->closed()) return false;
      auto now = store_view(id);
      if (!now) {
        reply->end_events();
        return false;
      }
      return emit(*now);
    });
  }

  json redis_health() {
    if (!store) return nullptr;
    json out = {{"url", redis->url().text}};
    try {
      out["queue"] = store->queue_status();
      out["connected"] = true;
      if (identity.mode == "worker") {
        const long long ttl = store->worker_ttl(identity.worker_id);
        out["registered"] = ttl != -2;
        out["registration_ttl_seconds"] = ttl;
      }
    } catch (const Error& e) {
      out["connected"] = false;
      out["error"] = e.what();
    }
    return out;
  }

  void health(const HttpRequest&, const std::string&, const std::shared_ptr<HttpReply>& reply) {
    std::weak_ptr<Impl> weak = weak_from_this();
    engine_status([weak, reply](const json& data, const json& error) {
      auto self = weak.lock();
      if (!self) return;
      json redis = self->redis_health();
      const bool engine_ok = !data.is_null();
      const bool redis_ok = redis.is_null() || redis.value("connected", false);
      const bool registered = redis.is_null() || self->identity.mode != "worker" || redis.value("registered", false);
      const bool ready = engine_ok && redis_ok && registered;
      json loaded = json::array();
      if (engine_ok && data.contains("models") && data["models"].contains("loaded")) {
        for (const auto& m : data["models"]["loaded"]) loaded.push_back({{"model", m.value("model", "")}, {"component", m.value("component", "")}});
      }
      json body = {{"status", ready ? "ok" : "unavailable"},
                   {"live", true},
                   {"ready", ready},
                   {"worker_id", self->identity.worker_id},
                   {"mode", self->identity.mode},
                   {"version", SDXL_WORKERS_VERSION},
                   {"device", engine_ok ? data["device"].value("selected", json(nullptr)) : json(nullptr)},
                   {"models", {{"available", engine_ok && data["models"].value("available", false)}, {"loaded", loaded}}},
                   {"queue", engine_ok ? data["queue"] : json(nullptr)},
                   {"memory_pressure", engine_ok ? data["memory"].value("pressure", json(nullptr)) : json(nullptr)},
                   {"redis", redis},
                   {"worker", self->worker ? self->worker->status() : json(nullptr)},
                   {"timestamp", utc_timestamp()}};
      if (!engine_ok) body["error"] = error;
      reply->send(json_response(ready ? 200 : 503, body));
    });
  }

  // Answers 200 with build(engine status data), or 503 when the engine does not answer a status.
  void with_status(const std::shared_ptr<HttpReply>& reply, std::function<json(Impl&, const json&)> build) {
    std::weak_ptr<Impl> weak = weak_from_this();
    engine_status([weak, reply, build = std::move(build)](const json& data, const json& error) {
      auto self = weak.lock();
      if (!self) return;
      if (data.is_null()) {
        const std::string why = error.is_object() ? error.value("message", "") : "no status";
        return reply->send(error_response(503, Error(ErrorCode::kWorkerUnavailable, "the engine did not answer: " + why)));
      }
      reply->send(json_response(200, build(*self, data)));
    });
  }

  void info(const HttpRequest&, const std::string&, const std::shared_ptr<HttpReply>& reply) {
    with_status(reply, [](Impl& self, const json& data) {
      json body = worker_capabilities(self.config);
      body["worker_id"] = self.identity.worker_id;
      body["mode"] = self.identity.mode;
      body["host"] = self.identity.hostname;
      body["url"] = self.identity.url;
      body["device"] = data["device"].value("selected", json(nullptr));
      body["schedulers"] = data["schedulers"];
      body["loaded_models"] = data["models"].value("loaded", json::array());
      body["postprocessing"] = data["postprocessing"];
      return body;
    });
  }

  void status(const HttpRequest&, const std::string&, const std::shared_ptr<HttpReply>& reply) {
    with_status(reply, [](Impl& self, const json& data) {
      json body = data;
      body["service"] = {{"worker_id", self.identity.worker_id},
                         {"mode", self.identity.mode},
                         {"url", self.identity.url},
                         {"local_jobs", self.local ? self.local->size() : 0},
                         {"redis", self.redis_health()},
                         {"worker", self.worker ? self.worker->status() : json(nullptr)}};
      return body;
    });
  }

  void workers(const HttpRequest&, const std::string&, const std::shared_ptr<HttpReply>& reply) {
    if (!store) {
      return fail(reply, 404, Error(kInvalid, "path: /workers lists the Redis registry; this server runs without --redis", "path"));
    }
    try {
      reply->send(json_response(200, {{"workers", store->live_workers()}}));
    } catch (const Error& e) {
      fail(reply, 503, e);
    }
  }
};

HttpApi::HttpApi(WorkersInterface& engine, ServiceConfig config, ServiceIdentity identity, const QueueWorker* worker)
    : impl_(std::make_shared<Impl>(engine, std::move(config), std::move(identity), worker)) {}

HttpApi::~HttpApi() = default;

void HttpApi::handle(const HttpRequest& request, std::shared_ptr<HttpReply> reply) {
  try {
    impl_->route(request, reply);
  } catch (const Error& e) {
    reply->send(error_response(e.code() == ErrorCode::kWorkerUnavailable ? 503 : 500, e));
  } catch (const std::exception& e) {
    reply->send(error_response(500, Error(ErrorCode::kInternalError, e.what())));
  }
}

void HttpApi::set_url(const std::string& url) { impl_->identity.url = url; }

void HttpApi::stop() {
  impl_->stopped = true;
  for (auto& timer : impl_->timers) timer->cancel();
  impl_->timers.clear();
  if (impl_->local) impl_->local->stop();
}

void HttpApi::finish_callbacks() {
  if (impl_->local) impl_->local->finish_callbacks();
}

}  // namespace workers
