#include "inference/managers/family_pipeline_manager.h"

#include <new>
#include <stdexcept>

#include <c10/util/Exception.h>

#include "utilities/error.h"

namespace workers {

void FamilyPipelineManager::register_pipeline(ModelKind kind, std::shared_ptr<Pipeline> pipeline) {
  if (!pipelines_.emplace(kind, std::move(pipeline)).second) {
    throw std::invalid_argument("a pipeline is already registered for " + std::string(to_string(kind)));
  }
}

GenerationResult FamilyPipelineManager::generate(const JobPlan& plan, const JobContext& context) {
  if (!plan.models) throw Error(ErrorCode::kInternalError, "the job's models were not resolved");
  const auto it = pipelines_.find(plan.models->base.kind);
  if (it == pipelines_.end()) {
    throw_invalid("model.base", plan.request.model.base + " is a " + std::string(to_string(plan.models->base.kind)) +
                                    " model; no pipeline of this engine runs it as a base model");
  }
  try {
    return it->second->run(plan, context);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::kOomError, "out of memory while generating; try a smaller size or batch");
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (is_out_of_memory_message(what)) {
      throw Error(ErrorCode::kOomError, "out of memory while generating: " + what.substr(0, 300));
    }
    throw Error(ErrorCode::kInternalError, "tensor operation failed: " + what.substr(0, 500));
  }
}

}  // namespace workers
