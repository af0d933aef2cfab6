#include "communication/line_splitter.h"

namespace workers {

LineSplitter::LineSplitter(std::size_t max_line_bytes, LineHandler on_line, OverflowHandler on_overflow)
    : max_(max_line_bytes), on_line_(std::move(on_line)), on_overflow_(std::move(on_overflow)) {}

void LineSplitter::deliver() {
  std::string_view line(pending_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Blank lines are keep-alives, not messages.
  if (line.find_first_not_of(" \t") != std::string_view::npos) on_line_(line);
  pending_.clear();
}

void LineSplitter::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    auto newline = bytes.find('\n');
    std::string_view chunk = bytes.substr(0, newline);
    if (!skipping_) {
      if (pending_.size() + chunk.size() > max_) {
        on_overflow_(pending_.size() + chunk.size());
        pending_.clear();
        pending_.shrink_to_fit();
        skipping_ = true;
      } else {
        pending_.append(chunk);
      }
    }
    if (newline == std::string_view::npos) return;
    if (skipping_) {
      skipping_ = false;
    } else {
      deliver();
    }
    bytes.remove_prefix(newline + 1);
  }
}

void LineSplitter::finish() {
  if (!skipping_ && !pending_.empty()) deliver();
  pending_.clear();
  skipping_ = false;
}

}  // namespace workers
