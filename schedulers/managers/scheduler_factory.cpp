#include "schedulers/managers/scheduler_factory.h"

#include "schedulers/managers/scheduler_name_table.h"
#include "schedulers/scheduler_config.h"
#include "utilities/error.h"

namespace workers {

// One line per worker (schedulers/workers/<family>.cpp defines the maker).
std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_ddpm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpm_multistep(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpm_singlestep(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_dpm_sde(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& config);
std::unique_ptr<Scheduler> make_deis(const SchedulerConfig& config);

namespace {

struct Registration {
  const char* class_name;
  std::unique_ptr<Scheduler> (*make)(const SchedulerConfig&);
};

const Registration kRegistry[] = {
    {"DDIMScheduler", make_ddim},
    {"DDPMScheduler", make_ddpm},
    {"PNDMScheduler", make_pndm},
    {"EulerDiscreteScheduler", make_euler},
    {"EulerAncestralDiscreteScheduler", make_euler_ancestral},
    {"HeunDiscreteScheduler", make_heun},
    {"KDPM2DiscreteScheduler", make_kdpm2},
    {"KDPM2AncestralDiscreteScheduler", make_kdpm2_ancestral},
    {"LMSDiscreteScheduler", make_lms},
    {"DPMSolverMultistepScheduler", make_dpm_multistep},
    {"DPMSolverSinglestepScheduler", make_dpm_singlestep},
    {"DPMSolverSDEScheduler", make_dpm_sde},
    {"UniPCMultistepScheduler", make_unipc},
    {"DEISMultistepScheduler", make_deis},
};

}  // namespace

SchedulerFactory::SchedulerFactory(std::shared_ptr<const SchedulerCatalog> catalog)
    : catalog_(catalog ? std::move(catalog) : std::make_shared<SchedulerNameTable>()) {}

std::vector<std::string> SchedulerFactory::class_names() {
  std::vector<std::string> out;
  for (const auto& r : kRegistry) out.emplace_back(r.class_name);
  return out;
}

std::unique_ptr<Scheduler> SchedulerFactory::create(const std::string& class_name, const nlohmann::json& config) const {
  for (const auto& r : kRegistry) {
    if (class_name == r.class_name) return r.make(SchedulerConfig(config));
  }
  std::string known;
  for (const auto& r : kRegistry) known += (known.empty() ? "" : ", ") + std::string(r.class_name);
  throw Error(ErrorCode::kInvalidRequest, "scheduler: unknown scheduler class \"" + class_name + "\" (known: " + known + ")",
              "scheduler");
}

BuiltScheduler SchedulerFactory::build(const std::optional<SchedulerChoice>& choice, const nlohmann::json& model_config,
                                       const nlohmann::json& options) const {
  nlohmann::json config = model_config.is_object() ? model_config : nlohmann::json::object();
  const std::string class_name = choice ? choice->class_name : config.value("_class_name", "");
  auto over = [&config](const nlohmann::json& values) {
    if (!values.is_object()) return;
    for (auto it = values.begin(); it != values.end(); ++it) config[it.key()] = it.value();
  };
  if (choice) over(choice->overrides);
  over(options);
  auto scheduler = create(class_name, config);
  return {std::move(scheduler), class_name, std::move(config)};
}

std::unique_ptr<Scheduler> SchedulerFactory::create_named(const std::string& name,
                                                          const nlohmann::json& model_config) const {
  return build(catalog_->resolve(name), model_config).scheduler;
}

}  // namespace workers
