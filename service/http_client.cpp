// The synchronous HTTP/1.1 client: URL checks, then one exchange (resolve, connect, write, read)
// on a private io_context under a single deadline.
#include "service/http_client.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "service/beast_names.h"
#include "utilities/error.h"

namespace workers {
namespace {

constexpr std::uint64_t kMaxResponseBody = 64u << 20;
constexpr std::uint32_t kMaxResponseHeader = 1u << 20;

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool has_line_break(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds;
  return out.str();
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}
}  // namespace

HttpUrl parse_http_url(const std::string& url, const std::string& field) {
  auto bad = [&](const std::string& what) { return Error(ErrorCode::kInvalidRequest, field + ": " + what, field); };
  if (url.empty()) throw bad("the URL is empty");
  for (char c : url) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) throw bad("the URL must not contain spaces or control characters");
  }
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) throw bad("not an http:// URL");
  if (lower(std::string_view(url).substr(0, scheme_end)) != "http") {
    throw bad("only http:// URLs are supported (got " + url.substr(0, scheme_end) + "://)");
  }
  std::string_view rest = std::string_view(url).substr(scheme_end + 3);
  std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) throw bad("user info (user@host) is not allowed in the URL");

  HttpUrl out;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unterminated [IPv6] host in the URL");
    std::string literal(authority.substr(1, close - 1));
    boost::system::error_code ec;
    asio::ip::make_address_v6(literal, ec);
    if (ec || literal.empty()) throw bad("invalid IPv6 address [" + literal + "] in the URL");
    out.host = literal;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw bad("unexpected characters after the [IPv6] host");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
    if (out.host.empty()) throw bad("the URL has an empty host");
    if (!std::all_of(out.host.begin(), out.host.end(), is_host_char)) {
      throw bad("invalid host '" + out.host + "' in the URL");
    }
  }
  if (has_port) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      throw bad("invalid port '" + std::string(port) + "' in the URL");
    }
    int number = std::stoi(std::string(port));
    if (number < 1 || number > 65535) throw bad("port " + std::string(port) + " is out of range (1-65535)");
    out.port = std::to_string(number);
  }
  std::size_t hash = tail.find('#');  // a fragment never goes on the wire
  if (hash != std::string_view::npos) tail = tail.substr(0, hash);
  if (tail.empty()) {
    out.target = "/";
  } else if (tail.front() == '?') {
    out.target = "/" + std::string(tail);
  } else {
    out.target = std::string(tail);
  }
  return out;
}

HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        double timeout_seconds, const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpUrl target = parse_http_url(url, "url");
  const std::string what = "http " + method + " " + url;
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    throw Error(ErrorCode::kInvalidRequest, "method: invalid HTTP method '" + method + "'", "method");
  }

  http::request<http::string_body> request;
  request.version(11);
  request.method_string(method);
  request.target(target.target);
  bool ipv6 = target.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + target.host + "]" : target.host;
  if (target.port != "80") host += ":" + target.port;
  request.set(http::field::host, host);
  request.set(http::field::user_agent, "sdxl-workers");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char) || has_line_break(value)) {
      throw Error(ErrorCode::kInvalidRequest, "headers: invalid header '" + name + "'", "headers");
    }
    request.set(name, value);
  }
  request.keep_alive(false);
  request.body() = body;
  request.prepare_payload();

  double seconds = std::clamp(timeout_seconds > 0 ? timeout_seconds : 0.001, 0.001, 1e7);
  auto limit = std::chrono::duration_cast<asio::steady_timer::duration>(std::chrono::duration<double>(seconds));
  auto deadline = asio::steady_timer::clock_type::now() + limit;

  asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  parser.header_limit(kMaxResponseHeader);

  bool timed_out = false;
  bool done = false;
  beast::error_code failure;
  std::string stage;
  asio::steady_timer timer(io);
  timer.expires_at(deadline);
  timer.async_wait([&](const beast::error_code& ec) {
    if (ec || done) return;
    timed_out = true;
    resolver.cancel();
    stream.close();
  });
  auto finish = [&](const beast::error_code& ec, const char* where) {
    done = true;
    failure = ec;
    stage = where;
    timer.cancel();
    stream.close();
  };

  resolver.async_resolve(target.host, target.port, [&](const beast::error_code& ec, tcp::resolver::results_type results) {
    if (done || timed_out) return;
    if (ec) return finish(ec, "resolve");
    stream.expires_at(deadline);
    stream.async_connect(results, [&](const beast::error_code& connect_ec, const tcp::endpoint&) {
      if (done || timed_out) return;
      if (connect_ec) return finish(connect_ec, "connect");
      stream.expires_at(deadline);
      http::async_write(stream, request, [&](const beast::error_code& write_ec, std::size_t) {
        if (done || timed_out) return;
        if (write_ec) return finish(write_ec, "send");
        stream.expires_at(deadline);
        http::async_read(stream, buffer, parser, [&](const beast::error_code& read_ec, std::size_t) {
          if (done || timed_out) return;
          if (read_ec) return finish(read_ec, "read");
          finish({}, "");
        });
      });
    });
  });
  io.run();

  if (timed_out || failure == beast::error::timeout) {
    throw Error(ErrorCode::kWorkerUnavailable, what + ": no complete answer within " + seconds_text(seconds) + " s");
  }
  if (failure) throw Error(ErrorCode::kWorkerUnavailable, what + ": " + stage + ": " + failure.message());

  auto response = parser.release();
  HttpResult result;
  result.status = static_cast<int>(response.result_int());
  result.body = std::move(response.body());
  for (const auto& field : response) {
    auto [it, inserted] = result.headers.emplace(lower(std::string_view(field.name_string().data(), field.name_string().size())), std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  return result;
}

}  // namespace workers
