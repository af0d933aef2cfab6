// Short names for Boost.Asio and Boost.Beast in the service's HTTP implementation files (an
// internal header: included by .cpp files only).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace workers {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
}  // namespace workers
