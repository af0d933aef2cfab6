#include "interface/composition.h"

#include "compat/request_translator.h"
#include "devices/torch_device_manager.h"
#include "models/managers/mapped_model_manager.h"
#include "schedulers/managers/scheduler_name_table.h"

namespace workers {

Managers production_managers(const WorkersConfig& config) {
  Managers m;
  m.device = std::make_shared<TorchDeviceManager>();
  m.model = std::make_shared<MappedModelManager>(config.model);
  m.schedulers = std::make_shared<SchedulerNameTable>();
  // The SDXL pipeline is not built yet: a null pipeline answers WORKER_UNAVAILABLE.
  return m;
}

Instructors compose_instructors(const WorkersConfig& config, boost::asio::io_context& io, Managers managers) {
  Instructors i;
  i.device = std::make_shared<DeviceInstructor>(managers.device, config.device);
  auto decoder = std::make_shared<MessageDecoder>(compat::default_translators(), config.main_interface.limits);
  i.communication = std::make_shared<CommunicationInstructor>(decoder, config.communication);
  i.model = std::make_shared<ModelInstructor>(managers.model, config.model);
  i.conditioning = std::make_shared<ConditioningInstructor>();
  auto queue = std::make_shared<JobQueue>(io, config.main_interface.max_concurrent_tasks,
                                          config.main_interface.queue_capacity);
  i.inference = std::make_shared<InferenceInstructor>(managers.pipeline, queue, config.main_interface);
  i.scheduler = std::make_shared<SchedulerInstructor>(managers.schedulers, config.scheduler);
  i.postprocessing = std::make_shared<PostprocessingInstructor>(config.postprocessing);
  return i;
}

}  // namespace workers
