// sdxl-workers: the executable over WorkersInterface (serve, status, config, the http and worker
// services) and the model tools (inspect, convert, tokenize).
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "communication/envelope.h"
#include "interface/cli.h"
#include "interface/generate_command.h"
#include "interface/workers_interface.h"
#include "models/io/model_tools.h"
#include "service/service_commands.h"
#include "service/service_config.h"
#include "utilities/logging.h"

namespace {

int fail(const workers::Error& error, bool json_on_stdout) {
  workers::get_logger()->error("{}", error.what());
  if (json_on_stdout) std::cout << workers::make_failure({}, error).dump() << std::endl;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace workers;
  // A host that closes our stdout must not kill us silently: writes fail with EPIPE instead
  // and are logged.
  std::signal(SIGPIPE, SIG_IGN);
  CliOptions options = parse_cli(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.errors.empty()) {
    for (const auto& e : options.errors) std::cerr << "sdxl-workers: " << e << "\n";
    std::cerr << cli_usage();
    return 64;
  }
  if (options.command == "help") {
    std::cout << cli_usage();
    return 0;
  }
  if (options.command == "version") {
    std::cout << "sdxl-workers " << SDXL_WORKERS_VERSION << "\n";
    return 0;
  }
  // Commands that serve answer a startup failure with one JSON error line on stdout too.
  const bool serving = options.command == "serve" || options.command == "http" || options.command == "worker";
  try {
    WorkersConfig config = load_config(options.config, process_environment());
    configure_logging(config.logging);
    if (options.command == "config") {
      nlohmann::json effective = to_json(config);
      const ServiceConfig service = load_service_config(options.config, process_environment());
      effective["workers"]["instructors"]["communication"].update(to_json(service));
      std::cout << effective.dump(2) << std::endl;
      for (const auto& w : config.warnings) get_logger()->warn("config: {}", w);
      for (const auto& w : service.warnings) get_logger()->warn("config: {}", w);
      return 0;
    }
    if (options.command == "inspect") {
      std::cout << inspect_model(options.value("model"), options.value("config-from")).dump(2) << std::endl;
      return 0;
    }
    if (options.command == "convert") {
      ConvertOptions convert{options.value("model"), options.value("output"), options.value("dtype", "fp16"),
                             options.value("config-from"), options.value("tokenizers")};
      auto summary = convert_checkpoint(convert);
      for (const auto& w : summary["warnings"]) get_logger()->warn("{}", w.get<std::string>());
      std::cout << summary.dump(2) << std::endl;
      return 0;
    }
    if (options.command == "tokenize") {
      std::string text;
      for (const auto& word : options.arguments) text += (text.empty() ? "" : " ") + word;
      std::cout << tokenize_text(options.value("model"), options.value("tokenizer", "1"),
                                 options.value("max-length", "77"), text)
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << std::endl;
      return 0;
    }
    if (options.command == "generate" || options.command == "upscale" || options.command == "postprocess") {
      return run_generate(options, config, std::cout, std::cerr);
    }
    if (options.command == "http" || options.command == "worker") return run_service(options, config, std::cout);
    WorkersInterface engine(config);
    if (serving) return engine.serve(STDIN_FILENO, STDOUT_FILENO);
    engine.initialize();
    auto response = engine.process({{"request_id", "cli-status"}, {"message_type", "status_request"}});
    std::cout << response.dump(2) << std::endl;
    return response.value("success", false) ? 0 : 1;
  } catch (const Error& e) {
    return fail(e, serving);
  } catch (const std::exception& e) {
    return fail(Error(ErrorCode::kInternalError, e.what()), serving);
  }
}
