// The composition root: the one place that chooses implementations for every role and wires the
// seven instructors with the managers each owns. Tests and hosts pass their own Managers (mocks,
// alternatives) instead.
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "communication/channel.h"
#include "conditioning/managers/conditioning_manager.h"
#include "devices/device_manager.h"
#include "inference/managers/batch_manager.h"
#include "inference/managers/memory_manager.h"
#include "inference/managers/pipeline_manager.h"
#include "instructors/communication_instructor.h"
#include "instructors/conditioning_instructor.h"
#include "instructors/device_instructor.h"
#include "instructors/inference_instructor.h"
#include "instructors/model_instructor.h"
#include "instructors/postprocessing_instructor.h"
#include "instructors/scheduler_instructor.h"
#include "models/managers/model_managers.h"
#include "postprocessing/managers/stage_registry.h"
#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/config.h"

namespace workers {

// Builds serve()'s transport over two descriptors (StdioChannel in production).
using ChannelFactory = std::function<std::shared_ptr<Channel>(boost::asio::io_context& io, int input_fd,
                                                              int output_fd, const CommunicationConfig& config)>;

// The roles the instructors are built around, by owner:
//   DeviceInstructor: device. ModelInstructor: models (+ memory, for unload and status).
//   ConditioningInstructor: conditioning. InferenceInstructor: pipeline, batch, memory.
//   SchedulerInstructor: schedulers. PostprocessingInstructor: the stages registry (config picks
//   and orders them). CommunicationInstructor: the decoder (built from config); serve(): channel.
// Null model managers or pipeline mean the capability is not built: those requests are refused
// with WORKER_UNAVAILABLE.
struct Managers {
  std::shared_ptr<DeviceManager> device;
  ModelManagers models;
  std::shared_ptr<ConditioningManager> conditioning;
  std::shared_ptr<PipelineManager> pipeline;
  std::shared_ptr<BatchManager> batch;
  std::shared_ptr<MemoryManager> memory;
  std::shared_ptr<const SchedulerCatalog> schedulers;
  std::shared_ptr<StageRegistry> stages;
  ChannelFactory channel;
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
// The production transport (StdioChannel).
ChannelFactory production_channel();

// Wires the instructors around `managers`; the job queue runs its callbacks on `io`.
Instructors compose_instructors(const WorkersConfig& config, boost::asio::io_context& io, Managers managers);

}  // namespace workers
