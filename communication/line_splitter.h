// LineSplitter: bytes in, complete lines out, with a cap on line length. An over-long line is
// reported once and then skipped up to its newline, so memory stays bounded whatever arrives.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace workers {

class LineSplitter {
 public:
  using LineHandler = std::function<void(std::string_view line)>;
  // Called once per over-long line with the number of bytes seen when the cap was crossed.
  using OverflowHandler = std::function<void(std::size_t bytes)>;

  LineSplitter(std::size_t max_line_bytes, LineHandler on_line, OverflowHandler on_overflow);

  void feed(std::string_view bytes);
  // End of input: a final line without '\n' is still delivered.
  void finish();

 private:
  void deliver();

  std::size_t max_;
  LineHandler on_line_;
  OverflowHandler on_overflow_;
  std::string pending_;
  bool skipping_ = false;
};

}  // namespace workers
