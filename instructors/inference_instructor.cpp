#include "instructors/inference_instructor.h"

namespace workers {

InferenceInstructor::InferenceInstructor(std::shared_ptr<PipelineManager> pipeline, std::shared_ptr<BatchManager> batch,
                                         std::shared_ptr<JobQueue> queue, MainInterfaceConfig config, ModelStage models,
                                         OutputStage outputs, std::shared_ptr<MemoryManager> memory)
    : pipeline_(std::move(pipeline)),
      batch_(std::move(batch)),
      queue_(std::move(queue)),
      config_(config),
      models_(std::move(models)),
      outputs_(std::move(outputs)),
      memory_(std::move(memory)),
      seeds_(std::random_device{}()) {}

GenerationResult generate_within_memory(PipelineManager& pipeline, MemoryManager* memory, JobPlan& plan,
                                        const JobContext& context) {
  if (!memory) return pipeline.generate(plan, context);
  plan.memory = memory->plan(plan, MemoryRung::kResident);
  std::vector<std::string> retries;
  for (;;) {
    try {
      auto result = pipeline.generate(plan, context);
      result.warnings.insert(result.warnings.begin(), retries.begin(), retries.end());
      if (plan.memory.planned) result.metadata["memory"] = to_json(plan.memory);
      memory->pressure();  // at high pressure, idle models leave now rather than at the next job
      return result;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kOomError || !plan.memory.planned) throw;
      const MemoryRung failed = plan.memory.rung;
      if (failed == static_cast<MemoryRung>(kMemoryRungs - 1)) {
        throw Error(ErrorCode::kOomError, std::string(e.what()) + " (at the last memory plan, " +
                                              std::string(to_string(failed)) + ", after " +
                                              std::to_string(retries.size()) + " retries)");
      }
      memory->recover();
      context.check_cancelled();
      try {
        plan.memory = memory->plan(plan, static_cast<MemoryRung>(static_cast<int>(failed) + 1));
      } catch (const Error& none) {
        throw Error(ErrorCode::kOomError, std::string(e.what()) + " (at the " + std::string(to_string(failed)) +
                                              " memory plan; " + none.what() + ")");
      }
      retries.push_back("out of memory at the " + std::string(to_string(failed)) + " memory plan (" +
                        std::string(e.what()).substr(0, 200) + "); retried at the " +
                        std::string(to_string(plan.memory.rung)) + " plan");
    }
  }
}

void InferenceInstructor::submit(JobPlan plan, JobCallbacks callbacks) {
  GenerationRequest& request = plan.request;
  if (!pipeline_) {
    throw Error(ErrorCode::kWorkerUnavailable,
                "image generation is not built into this version yet (no SDXL pipeline); "
                "the request was valid but cannot be run");
  }
  // diffusers seeds torch.Generator with 64-bit values; keep within 2^63 so every host language
  // can hold the reported seed as a signed integer.
  if (!request.seed) request.seed = seeds_() >> 1;
  plan.chunks = batch_->split(request);
  if (memory_) memory_->admit();

  Job job;
  job.id = request.request_id;
  job.priority = request.priority;
  job.timeout_seconds = request.timeout_seconds.value_or(config_.task_timeout);
  job.on_progress = std::move(callbacks.on_progress);
  job.on_failed = std::move(callbacks.on_failed);
  const std::uint64_t seed = *request.seed;
  job.on_done = [seed, done = std::move(callbacks.on_done)](GenerationResult result) {
    if (!result.data.contains("seed")) result.data["seed"] = seed;
    done(std::move(result));
  };
  job.work = [pipeline = pipeline_, models = models_, outputs = outputs_, memory = memory_,
              plan = std::move(plan)](const JobContext& context) mutable {
    models(plan);
    auto result = generate_within_memory(*pipeline, memory.get(), plan, context);
    context.check_cancelled();  // a job cancelled during its last step writes nothing
    outputs(plan, result);
    return result;
  };
  queue_->submit(std::move(job));
}

void InferenceInstructor::submit_postprocess(JobPlan plan, Source source, JobCallbacks callbacks) {
  Job job;
  job.id = plan.request.request_id;
  job.priority = plan.request.priority;
  job.timeout_seconds = plan.request.timeout_seconds.value_or(config_.task_timeout);
  job.on_progress = std::move(callbacks.on_progress);
  job.on_failed = std::move(callbacks.on_failed);
  job.on_done = std::move(callbacks.on_done);
  job.work = [outputs = outputs_, source = std::move(source), plan = std::move(plan)](const JobContext& context) {
    auto result = source(plan, context);
    context.check_cancelled();
    outputs(plan, result);
    return result;
  };
  queue_->submit(std::move(job));
}

void InferenceInstructor::submit_task(const std::string& request_id, std::function<nlohmann::json()> work,
                                      JobCallbacks callbacks) {
  Job job;
  job.id = request_id;
  job.timeout_seconds = config_.task_timeout;
  job.on_progress = std::move(callbacks.on_progress);
  job.on_failed = std::move(callbacks.on_failed);
  job.on_done = std::move(callbacks.on_done);
  job.work = [work = std::move(work)](const JobContext&) {
    GenerationResult result;
    result.data = work();
    return result;
  };
  queue_->submit(std::move(job));
}

nlohmann::json InferenceInstructor::status() const {
  auto j = queue_->status();
  j["pipeline_available"] = pipeline_ != nullptr;
  j["task_timeout"] = config_.task_timeout;
  return j;
}

}  // namespace workers
