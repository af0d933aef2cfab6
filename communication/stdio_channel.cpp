#include "communication/stdio_channel.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "utilities/error.h"
#include "utilities/logging.h"

namespace workers {
namespace {
int duplicate(int fd) {
  int copy = ::dup(fd);
  if (copy < 0) throw Error(ErrorCode::kInternalError, "cannot duplicate file descriptor " + std::to_string(fd));
  return copy;
}
}  // namespace

StdioChannel::StdioChannel(boost::asio::io_context& io, int input_fd, int output_fd, std::size_t max_line_bytes,
                           std::size_t max_pending_output_bytes)
    : io_(io), input_(io), output_(io), max_line_bytes_(max_line_bytes), max_pending_bytes_(max_pending_output_bytes) {
  // Regular files are fine too: Asio falls back to plain reads when epoll refuses them.
  input_.assign(duplicate(input_fd));
  output_.assign(duplicate(output_fd));
}

StdioChannel::~StdioChannel() { close(); }

void StdioChannel::close() {
  boost::system::error_code ignored;
  input_.close(ignored);
  output_.close(ignored);
  splitter_.reset();
  handlers_ = {};
  flush_waiters_.clear();
}

void StdioChannel::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  splitter_ = std::make_unique<LineSplitter>(max_line_bytes_, handlers_.on_line, handlers_.on_overflow);
  auto self = shared_from_this();
  boost::asio::post(io_, [self] { self->read_more(); });
}

void StdioChannel::read_more() {
  auto self = shared_from_this();
  input_.async_read_some(boost::asio::buffer(buffer_), [self](const boost::system::error_code& ec, std::size_t n) {
    if (!self->splitter_) return;  // closed
    if (n > 0) self->splitter_->feed(std::string_view(self->buffer_.data(), n));
    if (!ec) {
      // Decided after the answers this read produced are queued (sends are posted, and posted
      // handlers run in order): the overshoot is at most one read's worth of answers.
      boost::asio::post(self->io_, [self] {
        if (!self->splitter_) return;
        if (self->pending_bytes_ > self->max_pending_bytes_) {
          self->reading_paused_ = true;
        } else {
          self->read_more();
        }
      });
      return;
    }
    if (ec != boost::asio::error::eof) get_logger()->warn("stdin read failed: {}", ec.message());
    self->splitter_->finish();
    if (self->handlers_.on_eof) self->handlers_.on_eof();
  });
}

void StdioChannel::send(const nlohmann::json& message) {
  // dump() escapes control characters, so a message is always exactly one line.
  std::string line = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  auto self = shared_from_this();
  boost::asio::post(io_, [self, line = std::move(line)]() mutable {
    self->pending_bytes_ += line.size();
    self->outgoing_.push_back(std::move(line));
    if (!self->writing_) self->write_next();
  });
}

void StdioChannel::write_next() {
  if (outgoing_.empty() || output_broken_) {
    writing_ = false;
    if (output_broken_) {
      outgoing_.clear();
      pending_bytes_ = 0;
    }
    run_flush_waiters();
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  boost::asio::async_write(output_, boost::asio::buffer(outgoing_.front()),
                           [self](const boost::system::error_code& ec, std::size_t) {
                             if (ec) {
                               get_logger()->error("stdout write failed: {}", ec.message());
                               self->output_broken_ = true;
                             } else {
                               self->pending_bytes_ -= self->outgoing_.front().size();
                               self->outgoing_.pop_front();
                             }
                             self->resume_reading_if_drained();
                             self->write_next();
                           });
}

void StdioChannel::resume_reading_if_drained() {
  if (!reading_paused_ || !splitter_ || (!output_broken_ && pending_bytes_ > max_pending_bytes_ / 2)) return;
  reading_paused_ = false;
  read_more();
}

void StdioChannel::when_flushed(std::function<void()> done) {
  auto self = shared_from_this();
  boost::asio::post(io_, [self, done = std::move(done)]() mutable {
    self->flush_waiters_.push_back(std::move(done));
    if (!self->writing_) self->run_flush_waiters();
  });
}

void StdioChannel::run_flush_waiters() {
  auto waiters = std::move(flush_waiters_);
  flush_waiters_.clear();
  for (auto& w : waiters) w();
}

}  // namespace workers
