// Runs WorkersInterface::serve over two pipes: the input written and closed first, everything
// serve wrote read back after it returned (keep it under the pipe's 64 KiB buffer).
#pragma once

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "interface/workers_interface.h"

namespace workers::testing_support {

struct ServedOutput {
  int code = -1;
  std::string written;
};

inline ServedOutput serve_over_pipes(WorkersInterface& engine, const std::string& input) {
  ServedOutput out;
  int in[2], to_host[2];
  EXPECT_EQ(::pipe(in), 0);
  EXPECT_EQ(::pipe(to_host), 0);
  EXPECT_EQ(::write(in[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  out.code = engine.serve(in[0], to_host[1]);
  ::close(in[0]);
  ::close(to_host[1]);
  char buffer[4096];
  for (ssize_t n; (n = ::read(to_host[0], buffer, sizeof buffer)) > 0;) out.written.append(buffer, n);
  ::close(to_host[0]);
  return out;
}

}  // namespace workers::testing_support
