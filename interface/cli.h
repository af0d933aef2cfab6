// The sdxl-workers command line: a declarative table of commands and flags, parsed into CliOptions.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace workers {

struct CliOptions {
  std::string command;                // serve, status, config, help, version
  std::optional<std::string> config;  // --config PATH (or SDXL_WORKERS_CONFIG)
  std::vector<std::string> errors;    // unknown flags, missing values
};

CliOptions parse_cli(const std::vector<std::string>& args);
std::string cli_usage();

}  // namespace workers
