// The composition root: the one place that chooses implementations for every role and wires the
// seven instructors. Tests and hosts pass their own Managers (mocks, alternatives) instead.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "devices/device_manager.h"
#include "inference/managers/pipeline_manager.h"
#include "instructors/communication_instructor.h"
#include "instructors/conditioning_instructor.h"
#include "instructors/device_instructor.h"
#include "instructors/inference_instructor.h"
#include "instructors/model_instructor.h"
#include "instructors/postprocessing_instructor.h"
#include "instructors/scheduler_instructor.h"
#include "models/managers/model_manager.h"
#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/config.h"

namespace workers {

// The roles the instructors are built around. A null model or pipeline manager means the
// capability is not built: the instructors refuse those requests with WORKER_UNAVAILABLE.
struct Managers {
  std::shared_ptr<DeviceManager> device;
  std::shared_ptr<ModelManager> model;
  std::shared_ptr<PipelineManager> pipeline;
  std::shared_ptr<const SchedulerCatalog> schedulers;
};

struct Instructors {
  std::shared_ptr<DeviceInstructor> device;
  std::shared_ptr<CommunicationInstructor> communication;
  std::shared_ptr<ModelInstructor> model;
  std::shared_ptr<ConditioningInstructor> conditioning;
  std::shared_ptr<InferenceInstructor> inference;
  std::shared_ptr<SchedulerInstructor> scheduler;
  std::shared_ptr<PostprocessingInstructor> postprocessing;
};

// The production implementations of every role.
Managers production_managers(const WorkersConfig& config);

// Wires the instructors around `managers`; the job queue runs its callbacks on `io`.
Instructors compose_instructors(const WorkersConfig& config, boost::asio::io_context& io, Managers managers);

}  // namespace workers
