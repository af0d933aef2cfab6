// What a running job sees of its caller: a cancellation token checked between steps and a
// progress sink. Torch-free so every layer can take one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "utilities/error.h"

namespace workers {

// Set once by the I/O thread (cancel_request or timeout), read by the compute thread.
class CancellationToken {
 public:
  // Returns false when the token was already cancelled (the first reason wins).
  bool cancel(ErrorCode reason);
  bool cancelled() const { return reason_.load() != kNone; }
  ErrorCode reason() const;
  // Throws Error(reason) when cancelled: call between denoising steps.
  void throw_if_cancelled() const;

 private:
  static constexpr int kNone = -1;
  std::atomic<int> reason_{kNone};
};

struct ProgressUpdate {
  int step = 0;
  int total = 0;
  std::string stage = "denoising";  // denoising, decoding, encoding, loading
  nlohmann::json extra = nlohmann::json::object();
};

class JobContext {
 public:
  using ProgressSink = std::function<void(const ProgressUpdate&)>;

  JobContext(const CancellationToken& token, ProgressSink sink)
      : token_(token), sink_(std::move(sink)) {}

  const CancellationToken& token() const { return token_; }
  void check_cancelled() const { token_.throw_if_cancelled(); }
  void report(const ProgressUpdate& update) const {
    if (sink_) sink_(update);
  }

 private:
  const CancellationToken& token_;
  ProgressSink sink_;
};

}  // namespace workers
