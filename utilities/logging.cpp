#include "utilities/logging.h"

#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "utilities/error.h"

namespace workers {
namespace {
std::mutex g_mutex;  // guards replacing the default logger
}

void configure_logging(const LoggingConfig& config) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!config.file.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file));
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(ErrorCode::kConfigError, "cannot open log file " + config.file + ": " + e.what(),
                  "logging.file");
    }
  }
  auto logger = std::make_shared<spdlog::logger>("sdxl", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::from_str(config.level));
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::shared_ptr<spdlog::logger> get_logger() {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto logger = spdlog::get("sdxl");
  if (!logger) {
    logger = std::make_shared<spdlog::logger>(
        "sdxl", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    spdlog::register_logger(logger);
  }
  return logger;
}

}  // namespace workers
