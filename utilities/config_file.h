// The config file as a JSON document, read once for every part of the program that has settings
// in it (utilities/config.cpp for the engine, service/service_config.cpp for service mode).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace workers {

// The file's JSON object, or an empty object without a path. Throws Error(CONFIG_ERROR, field
// "config") when it cannot be read, is not JSON or is not an object.
nlohmann::json read_config_file(const std::optional<std::string>& path);

}  // namespace workers
