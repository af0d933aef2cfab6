// StdioChannel: newline-delimited JSON over two file descriptors (stdin/stdout by default),
// driven by Boost.Asio posix::stream_descriptor on the shared io_context.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "communication/channel.h"
#include "communication/line_splitter.h"

namespace workers {

class StdioChannel : public Channel, public std::enable_shared_from_this<StdioChannel> {
 public:
  // Takes duplicates of the descriptors so closing the channel never closes the process's own.
  // Input is not read while more than `max_pending_output_bytes` of output wait to be written
  // (reading resumes below half of it): a host that stops reading stops the worker's intake
  // instead of growing its memory.
  StdioChannel(boost::asio::io_context& io, int input_fd, int output_fd, std::size_t max_line_bytes,
               std::size_t max_pending_output_bytes = 16u << 20);
  ~StdioChannel() override;

  void start(Handlers handlers) override;
  void send(const nlohmann::json& message) override;
  void when_flushed(std::function<void()> done) override;
  void close() override;

 private:
  void read_more();
  void write_next();
  void run_flush_waiters();
  void resume_reading_if_drained();

  boost::asio::io_context& io_;
  boost::asio::posix::stream_descriptor input_;
  boost::asio::posix::stream_descriptor output_;
  std::size_t max_line_bytes_;
  Handlers handlers_;
  std::unique_ptr<LineSplitter> splitter_;
  std::array<char, 64 * 1024> buffer_{};
  // Loop-thread state (all touched only from io_ handlers): the outgoing queue and flush waiters.
  std::deque<std::string> outgoing_;
  std::size_t pending_bytes_ = 0;
  std::size_t max_pending_bytes_;
  bool reading_paused_ = false;
  bool writing_ = false;
  bool output_broken_ = false;
  std::vector<std::function<void()>> flush_waiters_;
};

}  // namespace workers
