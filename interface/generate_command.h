// `sdxl-workers generate`: the CLI flags turned into one inference_request run through
// WorkersInterface, with the files' folders as the model, image and output roots and a
// progress bar on stderr.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

#include "interface/cli.h"
#include "utilities/config.h"

namespace workers {

// The request the flags describe; adds the folders of the named files to `config`'s roots and
// points the output root at --output's folder. Throws Error(INVALID_REQUEST, "--flag").
nlohmann::json generate_request(const CliOptions& options, WorkersConfig& config);

// `upscale` / `postprocess`: a postprocess_request on --input, written to --output; the input's
// folder becomes an image root, a model file's folder an upscaler root.
nlohmann::json postprocess_request(const CliOptions& options, WorkersConfig& config);

// Runs generate, upscale or postprocess: progress on `err`, written file paths on `out`.
// Returns the exit code (0, 1 failed).
int run_generate(const CliOptions& options, WorkersConfig config, std::ostream& out, std::ostream& err);

}  // namespace workers
