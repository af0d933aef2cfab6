#include "postprocessing/managers/stage_registry.h"

#include <stdexcept>

#include "postprocessing/workers/encode_stage.h"
#include "postprocessing/workers/enhance_stage.h"
#include "postprocessing/workers/safety_check_stage.h"
#include "postprocessing/workers/upscale_stage.h"
#include "postprocessing/workers/thumbnail_stage.h"
#include "utilities/error.h"

namespace workers {

void StageRegistry::add(const std::string& name, Factory factory, StageTraits traits) {
  if (!factory) throw std::invalid_argument("postprocessing stage " + name + " has no factory");
  if (!factories_.emplace(name, std::move(factory)).second) {
    throw std::invalid_argument("postprocessing stage " + name + " is already registered");
  }
  traits_[name] = std::move(traits);
}

StageTraits StageRegistry::traits(const std::string& name) const {
  const auto it = traits_.find(name);
  return it == traits_.end() ? StageTraits{} : it->second;
}

bool StageRegistry::has(const std::string& name) const { return factories_.count(name) != 0; }

std::vector<std::string> StageRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& entry : factories_) out.push_back(entry.first);
  return out;
}

std::shared_ptr<PostprocessingStage> StageRegistry::make(const std::string& name,
                                                         const PostprocessingConfig& config) const {
  const auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& entry : factories_) known += (known.empty() ? "" : ", ") + entry.first;
    throw Error(ErrorCode::kConfigError, name + " is not a postprocessing stage; known: " + known,
                "workers.instructors.postprocessing.stages");
  }
  auto stage = it->second(config);
  if (!stage) {
    throw Error(ErrorCode::kInternalError,
                "the factory of postprocessing stage " + name + " built nothing");
  }
  return stage;
}

namespace {
StageTraits must_precede(std::vector<std::string> later) {
  StageTraits traits;
  traits.before = std::move(later);
  return traits;
}
}  // namespace

std::shared_ptr<StageRegistry> default_stage_registry(const StageServices& services) {
  auto registry = std::make_shared<StageRegistry>();
  // The check runs on the generated pixels (as diffusers does), before they are enlarged.
  registry->add(
      "safety_check",
      [safety = services.safety](const PostprocessingConfig& c) {
        return std::make_shared<SafetyCheckStage>(safety, c.safety_checker_mode);
      },
      must_precede({"upscale", "enhance", "encode"}));
  registry->add(
      "upscale",
      [upscalers = services.upscalers](const PostprocessingConfig&) { return std::make_shared<UpscaleStage>(upscalers); },
      must_precede({"enhance", "encode"}));
  registry->add(
      "enhance",
      [read = services.read_image](const PostprocessingConfig&) { return std::make_shared<EnhanceStage>(read); },
      must_precede({"encode"}));
  StageTraits encode;
  encode.writes_outputs = true;
  registry->add(
      "encode", [](const PostprocessingConfig& c) { return std::make_shared<EncodeStage>(c.output_root); }, encode);
  StageTraits thumbnail;
  thumbnail.after = {"encode"};
  registry->add(
      "thumbnail", [](const PostprocessingConfig&) { return std::make_shared<ThumbnailStage>(); }, thumbnail);
  return registry;
}

}  // namespace workers
