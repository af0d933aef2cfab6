#include "communication/stdio_channel.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace workers {
namespace {

struct Pipe {
  int fds[2];
  Pipe() { EXPECT_EQ(::pipe(fds), 0); }
  ~Pipe() {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
  }
  void close_write() {
    ::close(fds[1]);
    fds[1] = -1;
  }
};

std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  return out;
}

TEST(StdioChannel, EchoesLinesInOrderAndReportsEofAndOverflow) {
  Pipe in, out;
  boost::asio::io_context io;
  auto channel = std::make_shared<StdioChannel>(io, in.fds[0], out.fds[1], 16);
  std::vector<std::string> lines;
  std::vector<std::size_t> overflows;
  bool eof = false;
  channel->start({[&](std::string_view l) {
                    lines.emplace_back(l);
                    channel->send({{"echo", std::string(l)}});
                  },
                  [&](std::size_t n) { overflows.push_back(n); },
                  [&] {
                    eof = true;
                    channel->when_flushed([&] { io.stop(); });
                  }});
  const std::string input = "one\nthis line is far too long\ntwo\nthree";
  ASSERT_EQ(::write(in.fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  in.close_write();
  io.run();
  EXPECT_TRUE(eof);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(overflows.size(), 1u);
  channel.reset();
  out.close_write();
  EXPECT_EQ(read_all(out.fds[0]), "{\"echo\":\"one\"}\n{\"echo\":\"two\"}\n{\"echo\":\"three\"}\n");
}

TEST(StdioChannel, SendFromAnotherThreadIsWrittenWhole) {
  Pipe in, out;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  auto channel = std::make_shared<StdioChannel>(io, in.fds[0], out.fds[1], 1024);
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) channel->send({{"t", t}, {"i", i}, {"pad", std::string(200, 'x')}});
    });
  }
  for (auto& s : senders) s.join();
  std::promise<void> flushed;
  channel->when_flushed([&] { flushed.set_value(); });
  flushed.get_future().wait();
  guard.reset();
  io.stop();
  loop.join();
  channel.reset();
  out.close_write();
  const std::string written = read_all(out.fds[0]);
  std::size_t count = 0, start = 0;
  for (std::size_t nl; (nl = written.find('\n', start)) != std::string::npos; start = nl + 1, ++count) {
    EXPECT_NO_THROW(nlohmann::json::parse(written.substr(start, nl - start)));
  }
  EXPECT_EQ(count, 200u);
}

// A host that writes requests but never reads the answers: the channel stops reading once the
// unread output passes its cap, so memory stays bounded; reading the output lets it go on.
TEST(StdioChannel, StopsReadingInputWhileUnreadOutputIsOverTheCap) {
  Pipe in, out;
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  constexpr std::size_t kCap = 64 * 1024;
  constexpr int kLines = 5000;
  auto channel = std::make_shared<StdioChannel>(io, in.fds[0], out.fds[1], 1024, kCap);
  std::atomic<int> handled{0};
  std::promise<void> all_handled;
  channel->start({[&](std::string_view) {
                    channel->send({{"pad", std::string(1000, 'x')}});  // ~1 KB answer per line
                    if (++handled == kLines) all_handled.set_value();
                  },
                  [](std::size_t) {}, [] {}});
  std::thread loop([&] { io.run(); });
  std::thread writer([&] {
    const std::string line = "{\"message_type\":\"status_request\"}\n";
    for (int i = 0; i < kLines; ++i) {
      if (::write(in.fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) return;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Bound: the cap, one 64 KiB read's lines (~1,800 of these) and the output pipe's buffer.
  const int before = handled.load();
  EXPECT_LT(before, 3000) << "input kept being read while nobody read the output";
  std::thread reader([&] { read_all(out.fds[0]); });
  EXPECT_EQ(all_handled.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  writer.join();
  in.close_write();
  guard.reset();
  io.stop();
  loop.join();
  channel->close();
  channel.reset();
  out.close_write();
  reader.join();
  EXPECT_EQ(handled.load(), kLines);
}

}  // namespace
}  // namespace workers
