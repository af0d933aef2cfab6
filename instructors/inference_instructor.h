// InferenceInstructor: owns the PipelineManager, the BatchManager and the JobQueue. Accepts planned
// jobs (priority, timeout, cancellation), decides the seed and the batch's chunks, and on a compute
// thread has the job's models resolved, runs the pipeline, then the output stages.
// Without a PipelineManager it refuses with WORKER_UNAVAILABLE: no placeholder images.
#pragma once

#include <functional>
#include <memory>
#include <random>

#include "inference/managers/batch_manager.h"
#include "inference/managers/job_plan.h"
#include "inference/managers/job_queue.h"
#include "inference/managers/memory_manager.h"
#include "inference/managers/pipeline_manager.h"
#include "utilities/config.h"

namespace workers {

struct JobCallbacks {
  std::function<void(const ProgressUpdate&)> on_progress;
  std::function<void(GenerationResult)> on_done;
  std::function<void(const Error&)> on_failed;
};

// Runs on the compute thread when the job starts: fills plan.models (the ModelInstructor's resolve).
using ModelStage = std::function<void(JobPlan&)>;
// Runs on the compute thread after a successful generation: the job's postprocessing stages turn
// result.images into data.assets (the PostprocessingInstructor's finish).
using OutputStage = std::function<void(const JobPlan&, GenerationResult&)>;

// The job on the compute thread (plan.models resolved): plans its memory, generates, and after an
// out-of-memory error frees what can be freed and retries one rung cheaper until a rung works or
// the ladder ends (then OOM_ERROR). Each retry is a warning; the plan goes into the metadata
// ("memory"). Without a memory manager it just generates.
GenerationResult generate_within_memory(PipelineManager& pipeline, MemoryManager* memory, JobPlan& plan,
                                        const JobContext& context);

class InferenceInstructor {
 public:
  // `pipeline` may be null while no generation pipeline is built into this binary; `memory` null:
  // jobs run unplanned (everything resident, no OOM ladder, no admission check).
  InferenceInstructor(std::shared_ptr<PipelineManager> pipeline, std::shared_ptr<BatchManager> batch,
                      std::shared_ptr<JobQueue> queue, MainInterfaceConfig config, ModelStage models,
                      OutputStage outputs, std::shared_ptr<MemoryManager> memory = nullptr);

  // Queues the job (call on the io thread). A request without a seed gets a random one, reported
  // in the response's data.seed; the batch's chunks are decided here. Throws Error
  // (WORKER_UNAVAILABLE, QUEUE_FULL, INVALID_REQUEST, OOM_ERROR while memory pressure is critical).
  // On the compute thread the memory manager plans the job after its models are resolved
  // (refusing it up front with OOM_ERROR when no plan fits); an out-of-memory error is retried
  // one rung cheaper (after freeing caches) until the ladder ends, each retry reported in warnings.
  void submit(JobPlan plan, JobCallbacks callbacks);
  // Queues other blocking work (model loads) on the compute threads, with the configured
  // task_timeout; `work` returns the response's data or throws Error.
  void submit_task(const std::string& request_id, std::function<nlohmann::json()> work, JobCallbacks callbacks);
  // Queues a job without generation (a postprocess_request), with the request's priority and
  // timeout: `source` makes its result (reads the image) on a compute thread, then the output
  // stages run over it as over a generation's.
  using Source = std::function<GenerationResult(const JobPlan&, const JobContext&)>;
  void submit_postprocess(JobPlan plan, Source source, JobCallbacks callbacks);
  JobState cancel(const std::string& request_id) { return queue_->cancel(request_id); }
  std::size_t abandon(const Error& error) { return queue_->abandon(error); }
  void when_idle(std::function<void()> done) { queue_->when_idle(std::move(done)); }
  void stop() { queue_->stop(); }
  nlohmann::json status() const;
  // The memory manager's status (budget, usage, pressure, the last plan); null without one.
  nlohmann::json memory_status() const { return memory_ ? memory_->status() : nlohmann::json(); }

 private:
  std::shared_ptr<PipelineManager> pipeline_;
  std::shared_ptr<BatchManager> batch_;
  std::shared_ptr<JobQueue> queue_;
  MainInterfaceConfig config_;
  ModelStage models_;
  OutputStage outputs_;
  std::shared_ptr<MemoryManager> memory_;
  std::mt19937_64 seeds_;
};

}  // namespace workers
