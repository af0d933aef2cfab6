// Process logging: spdlog to stderr (stdout belongs to the JSON-lines protocol) and optionally
// to a file. Call configure_logging once, early; get_logger is cheap and safe anywhere.
#pragma once

#include <memory>

#include <spdlog/spdlog.h>

#include "utilities/config.h"

namespace workers {

// Installs the "sdxl" logger as spdlog's default. Throws Error(CONFIG_ERROR) when the log file
// cannot be opened.
void configure_logging(const LoggingConfig& config);

std::shared_ptr<spdlog::logger> get_logger();

}  // namespace workers
