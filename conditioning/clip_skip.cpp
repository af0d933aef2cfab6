#include "conditioning/clip_skip.h"

#include "utilities/error.h"

namespace workers {

int clip_hidden_state_index(std::optional<int> clip_skip, const std::string& style) {
  if (!clip_skip) return -2;
  if (*clip_skip < 0) throw_invalid("clip_skip", "must not be negative");
  if (style == "diffusers") return -(*clip_skip + 2);
  if (style == "a1111") {
    if (*clip_skip == 0) throw_invalid("clip_skip", "AUTOMATIC1111's clip skip starts at 1 (1 = last layer)");
    return -*clip_skip;
  }
  throw_invalid("clip_skip_style", "must be \"diffusers\" or \"a1111\", got \"" + style + "\"");
}

}  // namespace workers
