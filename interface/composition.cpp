#include "interface/composition.h"

#include "communication/stdio_channel.h"
#include "compat/request_translator.h"
#include "devices/torch_device_manager.h"
#include "inference/managers/sdxl_managers.h"
#include "postprocessing/managers/file_upscaler_manager.h"
#include "postprocessing/managers/postprocessing_manager.h"
#include "postprocessing/managers/torch_safety_checker_manager.h"
#include "schedulers/managers/scheduler_name_table.h"
#include "utilities/error.h"

namespace workers {

Managers production_managers(const WorkersConfig& config) {
  Managers m;
  m.device = std::make_shared<TorchDeviceManager>();
  m.schedulers = std::make_shared<SchedulerNameTable>();
  const DeviceSelection selection = m.device->select(config.device);
  WorkersConfig sized = config;
  // The model cache may fill the memory budget (the planner evicts what a job needs gone).
  if (sized.model.cache_bytes == 0 || sized.model.cache_bytes > selection.memory_budget) {
    sized.model.cache_bytes = selection.memory_budget;
  }
  UpscalerManagerOptions upscaling;
  upscaling.roots = config.model.upscaler_roots;
  upscaling.link_targets = config.model.trusted_link_targets;
  upscaling.tile = config.postprocessing.upscale_tile;
  upscaling.device = selection.device;
  upscaling.dtype = selection.dtype;
  auto upscalers = std::make_shared<FileUpscalerManager>(upscaling);
  SdxlPlacement placement{selection.device, selection.dtype, selection.memory_budget, m.device->memory_probe(selection)};
  auto sdxl = make_sdxl_managers(sized, placement, upscalers);
  m.models = sdxl.models;
  m.memory = sdxl.memory;
  m.conditioning = sdxl.conditioning;
  m.pipeline = sdxl.pipeline;
  m.batch = std::make_shared<ChunkingBatchManager>(config.main_interface.max_batch_chunk);
  StageServices services;
  services.upscalers = upscalers;
  services.safety = std::make_shared<TorchSafetyCheckerManager>(
      config.postprocessing.safety_checker_model, config.postprocessing.safety_checker_mode, selection.device,
      selection.dtype);
  services.read_image = [conditioning = m.conditioning](const std::string& path, const std::string& field) {
    return conditioning->source_image(path, field).image;
  };
  m.stages = default_stage_registry(services);
  m.channel = production_channel();
  return m;
}

ChannelFactory production_channel() {
  return [](boost::asio::io_context& io, int input_fd, int output_fd, const CommunicationConfig& config) {
    return std::make_shared<StdioChannel>(io, input_fd, output_fd, config.max_line_bytes,
                                          config.max_pending_output_bytes);
  };
}

Instructors compose_instructors(const WorkersConfig& config, boost::asio::io_context& io, Managers managers) {
  if (!managers.device || !managers.conditioning || !managers.batch || !managers.schedulers || !managers.stages) {
    throw Error(ErrorCode::kConfigError,
                "the managers factory must provide the device, conditioning, batch, scheduler and stage managers");
  }
  Instructors i;
  i.device = std::make_shared<DeviceInstructor>(managers.device, config.device);
  auto decoder = std::make_shared<MessageDecoder>(compat::default_translators(), config.main_interface.limits,
                                                  config.model.default_model);
  i.communication = std::make_shared<CommunicationInstructor>(decoder, config.communication);
  i.model = std::make_shared<ModelInstructor>(managers.models, managers.memory, config.model);
  i.conditioning = std::make_shared<ConditioningInstructor>(managers.conditioning);
  auto queue = std::make_shared<JobQueue>(io, config.main_interface.max_concurrent_tasks,
                                          config.main_interface.queue_capacity);
  i.postprocessing = std::make_shared<PostprocessingInstructor>(
      std::make_shared<StagedPostprocessingManager>(*managers.stages, config.postprocessing), config.postprocessing);
  i.inference = std::make_shared<InferenceInstructor>(
      managers.pipeline, managers.batch, queue, config.main_interface,
      [model = i.model](JobPlan& plan) { model->resolve(plan); },
      [post = i.postprocessing](const JobPlan& plan, GenerationResult& result) {
        post->finish(plan.stages, plan.request, result);
      },
      managers.memory);
  i.scheduler = std::make_shared<SchedulerInstructor>(managers.schedulers, config.scheduler);
  return i;
}

}  // namespace workers
