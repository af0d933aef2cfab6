#include "communication/envelope.h"

#include <regex>

#include <gtest/gtest.h>

namespace workers {
namespace {

TEST(Envelope, SuccessCarriesEveryEnvelopeField) {
  ResponseMeta meta{"r1", "status_response", {"w"}, 0.25};
  auto j = make_success(meta, {{"ok", true}});
  for (const char* key : {"request_id", "message_type", "success", "data", "error", "warnings", "execution_time",
                          "timestamp"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["success"], true);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["warnings"][0], "w");
  EXPECT_TRUE(std::regex_match(j["timestamp"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST(Envelope, FailureCarriesCodeMessageAndField) {
  auto j = make_failure(ResponseMeta{}, Error(ErrorCode::kInvalidRequest, "width: bad", "width"));
  EXPECT_TRUE(j["request_id"].is_null());
  EXPECT_EQ(j["message_type"], "error_response");
  EXPECT_EQ(j["success"], false);
  EXPECT_EQ(j["error"]["code"], "INVALID_REQUEST");
  EXPECT_EQ(j["error"]["field"], "width");
  EXPECT_TRUE(j["data"].is_null());
}

TEST(Envelope, ProgressHasStepTotalAndEta) {
  auto j = make_progress("r1", {5, 20, "denoising", {{"preview", nullptr}}}, 10.0);
  EXPECT_EQ(j["event"], "progress");
  EXPECT_EQ(j["step"], 5);
  EXPECT_EQ(j["total"], 20);
  EXPECT_DOUBLE_EQ(j["eta"].get<double>(), 30.0);
  EXPECT_TRUE(j.contains("preview"));
}

}  // namespace
}  // namespace workers
