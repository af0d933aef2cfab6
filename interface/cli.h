// The sdxl-workers command line: a declarative table of commands and flags, parsed into CliOptions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace workers {

struct CliOptions {
  std::string command;                // serve, status, config, inspect, convert, tokenize, help, version
  std::optional<std::string> config;  // --config PATH (or SDXL_WORKERS_CONFIG)
  std::map<std::string, std::string> values;  // other flags by name without dashes: model, output, ...
  // Every flag in command-line order (values keeps the last of each): repeated and grouped flags
  // (--lora, --controlnet with its --control-* flags) read this.
  std::vector<std::pair<std::string, std::string>> ordered;
  std::vector<std::string> arguments;  // positional words after the command (tokenize's TEXT)
  std::vector<std::string> errors;    // unknown flags, missing values, flags the command does not take
  std::string value(const std::string& flag, const std::string& fallback = "") const;
};

CliOptions parse_cli(const std::vector<std::string>& args);
std::string cli_usage();

}  // namespace workers
