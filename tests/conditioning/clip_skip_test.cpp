#include "conditioning/clip_skip.h"

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers {
namespace {

TEST(ClipSkip, DiffusersConvention) {
  EXPECT_EQ(clip_hidden_state_index(std::nullopt, "diffusers"), -2);
  EXPECT_EQ(clip_hidden_state_index(0, "diffusers"), -2);
  EXPECT_EQ(clip_hidden_state_index(1, "diffusers"), -3);
}

TEST(ClipSkip, A1111ConventionTwoIsPenultimate) {
  EXPECT_EQ(clip_hidden_state_index(2, "a1111"), -2);
  EXPECT_EQ(clip_hidden_state_index(1, "a1111"), -1);
  EXPECT_EQ(clip_hidden_state_index(3, "a1111"), -3);
  EXPECT_EQ(clip_hidden_state_index(std::nullopt, "a1111"), -2);
}

TEST(ClipSkip, InvalidValuesNameTheField) {
  try {
    clip_hidden_state_index(0, "a1111");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "clip_skip");
  }
  EXPECT_THROW(clip_hidden_state_index(-1, "diffusers"), Error);
  EXPECT_THROW(clip_hidden_state_index(1, "comfy"), Error);
}

}  // namespace
}  // namespace workers
