// HttpServer: the service's HTTP/1.1 server on Boost.Beast. The server core accepts connections
// (refusing those past max_connections with a 503) and hands each to an HttpSession
// (service/http_session.h); this file also holds the public class and the response helpers.
#include "service/http_server.h"

#include <algorithm>
#include <chrono>

#include "communication/envelope.h"
#include "service/beast_names.h"
#include "service/http_session.h"
#include "utilities/logging.h"

namespace workers {

void HttpServerCore::accept() {
  auto self = shared_from_this();
  acceptor.async_accept([self](const beast::error_code& ec, tcp::socket socket) {
    if (self->stopped || !self->acceptor.is_open()) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      get_logger()->warn("http: accept failed: {}", ec.message());
      self->accept_retry.expires_after(std::chrono::milliseconds(100));  // e.g. out of descriptors
      self->accept_retry.async_wait([self](const beast::error_code& retry_ec) {
        if (!retry_ec && !self->stopped) self->accept();
      });
      return;
    }
    auto& live = self->sessions;
    live.erase(std::remove_if(live.begin(), live.end(), [](const auto& weak) { return weak.expired(); }),
               live.end());
    auto session = std::make_shared<HttpSession>(self, std::move(socket));
    live.push_back(session);
    if (self->open >= self->limits.max_connections) {
      session->reject();
    } else {
      session->start();
    }
    self->accept();
  });
}

void HttpServerCore::stop() {
  if (stopped.exchange(true)) return;
  beast::error_code ec;
  acceptor.close(ec);
  accept_retry.cancel();
  auto live = std::move(sessions);
  sessions.clear();
  for (const auto& weak : live) {
    if (auto session = weak.lock()) session->close_now();
  }
}

struct HttpServer::State : HttpServerCore {
  using HttpServerCore::HttpServerCore;
};

std::string HttpRequest::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

HttpResponse error_response(int status, const Error& error, const std::string& request_id) {
  ResponseMeta meta;
  meta.request_id = request_id;
  meta.message_type = "error_response";
  return json_response(status, make_failure(meta, error));
}

HttpServer::HttpServer(boost::asio::io_context& io, HttpServerLimits limits, HttpHandler handler)
    : state_(std::make_shared<State>(io, limits, std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

unsigned short HttpServer::listen(const std::string& host, unsigned short port) {
  auto& acceptor = state_->acceptor;
  const std::string where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& reason) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return Error(ErrorCode::kConfigError, "port: cannot listen on " + where + ": " + reason, "port");
  };
  if (state_->stopped) throw fail("the server is stopped");
  beast::error_code ec;
  acceptor.close(ec);
  tcp::resolver resolver(state_->io);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service,
                                  ec);
  if (ec) throw fail(ec.message());
  if (results.empty()) throw fail("the host resolves to no address");
  tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw fail(ec.message());
  unsigned short bound = acceptor.local_endpoint(ec).port();
  if (ec) throw fail(ec.message());
  state_->accept();
  return bound;
}

void HttpServer::stop() { state_->stop(); }

std::size_t HttpServer::connections() const { return state_->open.load(); }

}  // namespace workers
