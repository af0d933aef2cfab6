#include "models/managers/model_handle.h"

#include <array>
#include <utility>

namespace workers {

std::string_view to_string(Residency residency) {
  return residency == Residency::kStreamed ? "streamed" : "resident";
}
namespace {
constexpr std::array<std::pair<ModelKind, std::string_view>, 6> kNames{{{ModelKind::kSdxlBase, "sdxl-base"},
                                                                         {ModelKind::kSdxlRefiner, "sdxl-refiner"},
                                                                         {ModelKind::kSdxlInpaint, "sdxl-inpaint"},
                                                                         {ModelKind::kVae, "vae"},
                                                                         {ModelKind::kControlNet, "controlnet"},
                                                                         {ModelKind::kLora, "lora"}}};
}  // namespace

std::string_view to_string(ModelKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<ModelKind> model_kind_from_string(std::string_view name) {
  for (const auto& [kind, n] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

}  // namespace workers
