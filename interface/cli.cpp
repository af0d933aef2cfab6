#include "interface/cli.h"

#include <cstdlib>

namespace workers {
namespace {

struct CommandSpec {
  const char* name;
  const char* help;
};

const CommandSpec kCommands[] = {
    {"serve", "read JSON requests line by line on stdin, write responses and progress on stdout"},
    {"status", "answer one status_request (device, queue, models) and print it"},
    {"config", "print the effective configuration (file + environment + defaults)"},
    {"version", "print the version"},
    {"help", "print this help"},
};

struct FlagSpec {
  const char* name;
  const char* value;
  const char* help;
};

const FlagSpec kFlags[] = {
    {"--config", "PATH", "workers_config.json to load (default: $SDXL_WORKERS_CONFIG, else built-in defaults)"},
};

}  // namespace

CliOptions parse_cli(const std::vector<std::string>& args) {
  CliOptions options;
  if (const char* env = std::getenv("SDXL_WORKERS_CONFIG"); env && *env) options.config = env;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config") {
      if (i + 1 >= args.size()) {
        options.errors.push_back("--config needs a PATH");
      } else {
        options.config = args[++i];
      }
    } else if (a.rfind("--config=", 0) == 0) {
      options.config = a.substr(9);
    } else if (a == "-h" || a == "--help") {
      options.command = "help";
    } else if (a == "--version") {
      options.command = "version";
    } else if (!a.empty() && a[0] == '-') {
      options.errors.push_back("unknown option " + a);
    } else if (options.command.empty()) {
      bool known = false;
      for (const auto& c : kCommands) known = known || a == c.name;
      if (!known) options.errors.push_back("unknown command " + a);
      options.command = a;
    } else {
      options.errors.push_back("unexpected argument " + a);
    }
  }
  if (options.command.empty()) options.command = "help";
  return options;
}

std::string cli_usage() {
  std::string text = "usage: sdxl-workers <command> [options]\n\ncommands:\n";
  for (const auto& c : kCommands) text += "  " + std::string(c.name) + std::string(10 - std::string(c.name).size(), ' ') + c.help + "\n";
  text += "\noptions:\n";
  for (const auto& f : kFlags) text += "  " + std::string(f.name) + " " + f.value + "  " + f.help + "\n";
  text += "\nenvironment overrides: SDXL_WORKERS_DEVICE, SDXL_WORKERS_THREADS, SDXL_WORKERS_LOG_LEVEL, ...\n"
          "(docs/protocol.md lists every message; `sdxl-workers config` shows the effective settings)\n";
  return text;
}

}  // namespace workers
