#include "utilities/job_context.h"

#include <gtest/gtest.h>

namespace workers {
namespace {

TEST(CancellationToken, FirstReasonWins) {
  CancellationToken token;
  EXPECT_FALSE(token.cancelled());
  EXPECT_NO_THROW(token.throw_if_cancelled());
  EXPECT_TRUE(token.cancel(ErrorCode::kTimeoutError));
  EXPECT_FALSE(token.cancel(ErrorCode::kCancelled));
  EXPECT_EQ(token.reason(), ErrorCode::kTimeoutError);
  try {
    token.throw_if_cancelled();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTimeoutError);
  }
}

TEST(JobContext, ForwardsProgressAndCancellation) {
  CancellationToken token;
  std::vector<int> steps;
  JobContext context(token, [&](const ProgressUpdate& u) { steps.push_back(u.step); });
  context.report({1, 2, "denoising", nlohmann::json::object()});
  context.report({2, 2, "denoising", nlohmann::json::object()});
  EXPECT_EQ(steps, (std::vector<int>{1, 2}));
  token.cancel(ErrorCode::kCancelled);
  EXPECT_THROW(context.check_cancelled(), Error);
}

TEST(ErrorCodes, SpellTheProtocolNames) {
  EXPECT_EQ(to_string(ErrorCode::kInvalidRequest), "INVALID_REQUEST");
  EXPECT_EQ(to_string(ErrorCode::kWorkerUnavailable), "WORKER_UNAVAILABLE");
  EXPECT_EQ(to_string(ErrorCode::kTimeoutError), "TIMEOUT_ERROR");
  EXPECT_EQ(to_string(ErrorCode::kOomError), "OOM_ERROR");
}

}  // namespace
}  // namespace workers
