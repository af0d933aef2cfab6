// `sdxl-workers http` and `sdxl-workers worker`: the service-mode commands over one WorkersInterface.
#pragma once

#include <ostream>

#include "interface/cli.h"
#include "utilities/config.h"

namespace workers {

// Runs until SIGINT/SIGTERM (then drains) and returns the exit code. Prints one JSON line on `out`
// once serving: {"event": "listening", "url", "worker_id", "mode"} (http, or worker with --port)
// or {"event": "consuming", "worker_id", "redis"} (worker without --port). Throws Error on a
// configuration that cannot be served (CONFIG_ERROR naming the flag or field).
int run_service(const CliOptions& options, const WorkersConfig& config, std::ostream& out);

}  // namespace workers
