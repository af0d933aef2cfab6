#include "interface/composition.h"

#include "compat/request_translator.h"
#include "devices/torch_device_manager.h"
#include "inference/managers/sdxl_managers.h"
#include "schedulers/managers/scheduler_name_table.h"

namespace workers {

Managers production_managers(const WorkersConfig& config) {
  Managers m;
  m.device = std::make_shared<TorchDeviceManager>();
  m.schedulers = std::make_shared<SchedulerNameTable>();
  const DeviceSelection selection = m.device->select(config.device);
  WorkersConfig sized = config;
  if (sized.model.cache_bytes == 0) {
    // Half the RAM on a CPU, 80 % of the GPU's memory on CUDA.
    const auto inventory = m.device->inventory();
    sized.model.cache_bytes = inventory.cpu.total_memory / 2;
    for (const auto& gpu : inventory.cuda) {
      if (selection.device == "cuda:" + std::to_string(gpu.index)) sized.model.cache_bytes = gpu.total_memory / 10 * 8;
    }
  }
  auto sdxl = make_sdxl_managers(sized, selection.device, selection.dtype, m.schedulers);
  m.model = sdxl.model;
  m.pipeline = sdxl.pipeline;
  return m;
}

Instructors compose_instructors(const WorkersConfig& config, boost::asio::io_context& io, Managers managers) {
  Instructors i;
  i.device = std::make_shared<DeviceInstructor>(managers.device, config.device);
  auto decoder = std::make_shared<MessageDecoder>(compat::default_translators(), config.main_interface.limits,
                                                  config.model.default_model);
  i.communication = std::make_shared<CommunicationInstructor>(decoder, config.communication);
  i.model = std::make_shared<ModelInstructor>(managers.model, config.model);
  i.conditioning = std::make_shared<ConditioningInstructor>();
  auto queue = std::make_shared<JobQueue>(io, config.main_interface.max_concurrent_tasks,
                                          config.main_interface.queue_capacity);
  i.postprocessing = std::make_shared<PostprocessingInstructor>(config.postprocessing);
  i.inference = std::make_shared<InferenceInstructor>(
      managers.pipeline, queue, config.main_interface,
      [post = i.postprocessing](const GenerationRequest& request, GenerationResult& result) {
        post->finish(request, result);
      });
  i.scheduler = std::make_shared<SchedulerInstructor>(managers.schedulers, config.scheduler);
  return i;
}

}  // namespace workers
