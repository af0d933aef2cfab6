#include "instructors/postprocessing_instructor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "mocks/mock_postprocessing_manager.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Return;
using ::testing::StrictMock;

struct Fixture {
  std::shared_ptr<StrictMock<MockPostprocessingManager>> manager =
      std::make_shared<StrictMock<MockPostprocessingManager>>();
  PostprocessingInstructor instructor{manager, PostprocessingConfig{}};
};

TEST(PostprocessingInstructor, AFileAsOutputRootIsAConfigErrorNamingTheField) {
  auto manager = std::make_shared<StrictMock<MockPostprocessingManager>>();
  EXPECT_CALL(*manager, writes_outputs()).Times(2);
  PostprocessingConfig config;
  config.output_root = testing::TempDir() + "/postprocessing_instructor_root_file";
  { std::ofstream(config.output_root) << "x"; }
  const auto caught =
      testing_support::catch_error([&] { PostprocessingInstructor(manager, config).initialize(); });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.output_root");
  std::remove(config.output_root.c_str());
  EXPECT_NO_THROW(
      PostprocessingInstructor(manager, config).initialize());  // absent: created on first write
}

TEST(PostprocessingInstructor, StagesThatWriteNoImagesAreAConfigError) {
  Fixture f;
  EXPECT_CALL(*f.manager, writes_outputs()).WillOnce(Return(false));
  const auto caught = testing_support::catch_error([&] { f.instructor.initialize(); });
  EXPECT_EQ(caught.code, ErrorCode::kConfigError);
  EXPECT_EQ(caught.field, "workers.instructors.postprocessing.stages");
}

TEST(PostprocessingInstructor, AJobRunsTheStagesTheManagerPlansForIt) {
  Fixture f;
  EXPECT_CALL(*f.manager, plan(_)).WillOnce(Return(std::vector<std::string>{"invert", "encode"}));
  EXPECT_EQ(f.instructor.stages(GenerationRequest{}),
            (std::vector<std::string>{"invert", "encode"}));
}

TEST(PostprocessingInstructor, APostprocessPartNoConfiguredStageDoesIsRefusedNamingIt) {
  Fixture f;
  EXPECT_CALL(*f.manager, plan(_)).WillRepeatedly(Return(std::vector<std::string>{"encode"}));
  GenerationRequest upscale;
  upscale.postprocess.upscale = UpscaleSpec{"lanczos", 2.0, -1};
  auto caught = testing_support::catch_error([&] { f.instructor.stages(upscale); });
  EXPECT_EQ(caught.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(caught.field, "postprocess.upscale");
  EXPECT_NE(caught.message.find("workers.instructors.postprocessing.stages"), std::string::npos);
  GenerationRequest enhance;
  enhance.postprocess.enhance = {{"contrast", 1.1}};
  EXPECT_EQ(testing_support::catch_error([&] { f.instructor.stages(enhance); }).field, "postprocess.enhance");
  GenerationRequest safety;
  safety.postprocess.safety_checker = "black";
  EXPECT_EQ(testing_support::catch_error([&] { f.instructor.stages(safety); }).field, "postprocess.safety_checker");
  safety.postprocess.safety_checker = "off";  // asks for nothing
  EXPECT_EQ(f.instructor.stages(safety), std::vector<std::string>{"encode"});
}

TEST(PostprocessingInstructor, FinishHandsTheJobsStagesToTheManager) {
  Fixture f;
  GenerationRequest request;
  request.request_id = "job-1";
  GenerationResult result;
  EXPECT_CALL(*f.manager,
              run(ElementsAre("encode"), Field(&GenerationRequest::request_id, "job-1"), _))
      .WillOnce([](const std::vector<std::string>&, const GenerationRequest&, GenerationResult& r) {
        r.data["assets"] = nlohmann::json::array();
      });
  f.instructor.finish({"encode"}, request, result);
  EXPECT_EQ(result.data["assets"], nlohmann::json::array());
}

TEST(PostprocessingInstructor, StatusIsTheManagers) {
  Fixture f;
  EXPECT_CALL(*f.manager, status());
  const auto status = f.instructor.status();
  EXPECT_EQ(status["output_root"], "outputs");
  EXPECT_EQ(status["formats"], nlohmann::json::parse(R"(["png", "jpeg", "webp"])"));
}

}  // namespace
}  // namespace workers
