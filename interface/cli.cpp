#include "interface/cli.h"

#include <cstdlib>

namespace workers {
namespace {

struct CommandSpec {
  const char* name;
  const char* help;
  std::vector<const char*> required;  // flags the command cannot run without
  const char* positional = nullptr;   // name of the words it takes after the flags, if any
};

const CommandSpec kCommands[] = {
    {"serve", "read JSON requests line by line on stdin, write responses and progress on stdout", {}},
    {"status", "answer one status_request (device, queue, models) and print it", {}},
    {"config", "print the effective configuration (file + environment + defaults)", {}},
    {"inspect", "print a model's kind, components, dtypes and parameter counts as JSON", {"model"}},
    {"convert", "write a single-file SDXL checkpoint out as a diffusers folder", {"model", "output"}},
    {"tokenize", "print the CLIP token ids and tokens of TEXT as JSON", {"model"}, "TEXT"},
    {"version", "print the version", {}},
    {"help", "print this help", {}},
};

struct FlagSpec {
  const char* name;  // without dashes
  const char* value;
  std::vector<const char*> commands;  // empty: every command
  const char* help;
};

const FlagSpec kFlags[] = {
    {"config", "PATH", {}, "workers_config.json (default: $SDXL_WORKERS_CONFIG, else built-in defaults)"},
    {"model", "PATH", {"inspect", "convert", "tokenize"},
     "a diffusers folder or a single-file .safetensors checkpoint (tokenize: a diffusers or tokenizer folder)"},
    {"output", "DIR", {"convert"}, "the diffusers folder to create (must not exist or be empty)"},
    {"dtype", "fp16|bf16|fp32", {"convert"}, "weight dtype written (default fp16)"},
    {"config-from", "DIR", {"inspect", "convert"},
     "diffusers folder whose config.json files win over the configs inferred from shapes"},
    {"tokenizers", "DIR", {"convert"}, "folder with tokenizer/ and tokenizer_2/ to copy in"},
    {"tokenizer", "1|2", {"tokenize"}, "which tokenizer of the model (default 1; a refiner has only 2)"},
    {"max-length", "N", {"tokenize"}, "pad and truncate to N ids (default 77); 0 = raw ids with BOS/EOS"},
};

const FlagSpec* find_flag(const std::string& name) {
  for (const auto& f : kFlags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

bool takes(const FlagSpec& flag, const std::string& command) {
  if (flag.commands.empty()) return true;
  for (const char* c : flag.commands) {
    if (command == c) return true;
  }
  return false;
}

}  // namespace

std::string CliOptions::value(const std::string& flag, const std::string& fallback) const {
  auto it = values.find(flag);
  return it == values.end() ? fallback : it->second;
}

CliOptions parse_cli(const std::vector<std::string>& args) {
  CliOptions options;
  if (const char* env = std::getenv("SDXL_WORKERS_CONFIG"); env && *env) options.config = env;
  std::vector<std::pair<std::string, std::string>> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      options.command = "help";
    } else if (a == "--version") {
      options.command = "version";
    } else if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      const auto equals = name.find('=');
      const bool inline_value = equals != std::string::npos;
      if (inline_value) {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
      }
      const FlagSpec* spec = find_flag(name);
      if (!spec) {
        options.errors.push_back("unknown option --" + name);
      } else if (!inline_value && i + 1 >= args.size()) {
        options.errors.push_back("--" + name + " needs " + spec->value);
      } else {
        flags.emplace_back(name, inline_value ? value : args[++i]);
      }
    } else if (!a.empty() && a[0] == '-') {
      options.errors.push_back("unknown option " + a);
    } else if (options.command.empty()) {
      bool known = false;
      for (const auto& c : kCommands) known = known || a == c.name;
      if (!known) options.errors.push_back("unknown command " + a);
      options.command = a;
    } else {
      options.arguments.push_back(a);
    }
  }
  if (options.command.empty()) options.command = "help";
  for (const auto& [name, value] : flags) {
    if (!takes(*find_flag(name), options.command)) {
      options.errors.push_back("--" + name + " does not apply to " + options.command);
    } else if (name == "config") {
      options.config = value;
    } else {
      options.values[name] = value;
    }
  }
  for (const auto& c : kCommands) {
    if (options.command != c.name) continue;
    for (const char* required : c.required) {
      if (!options.values.count(required)) options.errors.push_back(options.command + " needs --" + required);
    }
    if (!c.positional) {
      for (const auto& a : options.arguments) options.errors.push_back("unexpected argument " + a);
    } else if (options.arguments.empty()) {
      options.errors.push_back(options.command + " needs " + c.positional);
    }
  }
  return options;
}

std::string cli_usage() {
  std::string text = "usage: sdxl-workers <command> [options]\n\ncommands:\n";
  for (const auto& c : kCommands) {
    std::string name = c.name;
    if (c.positional) name += std::string(" ") + c.positional;
    text += "  " + name + std::string(name.size() < 15 ? 15 - name.size() : 1, ' ') + c.help + "\n";
  }
  text += "\noptions:\n";
  for (const auto& f : kFlags) {
    text += "  --" + std::string(f.name) + " " + f.value + "\n      " + f.help;
    if (!f.commands.empty()) {
      text += " (";
      for (std::size_t i = 0; i < f.commands.size(); ++i) text += (i ? ", " : "") + std::string(f.commands[i]);
      text += ")";
    }
    text += "\n";
  }
  text += "\nenvironment overrides: SDXL_WORKERS_DEVICE, SDXL_WORKERS_THREADS, SDXL_WORKERS_LOG_LEVEL, ...\n"
          "(docs/protocol.md lists every message; `sdxl-workers config` shows the effective settings)\n";
  return text;
}

}  // namespace workers
