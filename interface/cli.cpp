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
    {"generate", "generate images (text2img, img2img, inpaint, base + refiner, LoRAs, ControlNets) with a progress bar",
     {"model", "prompt", "output"}},
    {"upscale", "upscale an image with an ESRGAN-family model (.pth / .safetensors) or lanczos, bicubic, nearest",
     {"model", "input", "output"}},
    {"postprocess", "run postprocessing stages (upscale, enhance, safety check) on an image, as A1111's Extras tab",
     {"input", "output"}},
    {"http", "serve the HTTP API (POST /generate, /jobs/{id}, /health, ...); with --redis, enqueue jobs into Redis",
     {"port"}},
    {"worker", "take jobs from the Redis queue shared with other workers (--port also serves /health, /worker/info)",
     {}},
    {"version", "print the version", {}},
    {"help", "print this help", {}},
};

struct FlagSpec {
  const char* name;   // without dashes
  const char* value;  // nullptr: a switch without a value (stored as "true")
  std::vector<const char*> commands;  // empty: every command
  const char* help;
};

const FlagSpec kFlags[] = {
    {"config", "PATH", {}, "workers_config.json (default: $SDXL_WORKERS_CONFIG, else built-in defaults)"},
    {"model", "PATH", {"inspect", "convert", "tokenize", "generate", "upscale"},
     "a diffusers folder or a single-file .safetensors checkpoint (tokenize: a diffusers or tokenizer folder; "
     "upscale: an upscaler model file, or lanczos, bicubic, bilinear, nearest)"},
    {"input", "IMAGE", {"upscale", "postprocess"}, "the image to work on (PNG, JPEG, WEBP, BMP)"},
    {"output", "PATH", {"convert", "generate", "upscale", "postprocess"},
     "convert: the diffusers folder to create (must not exist or be empty); generate, upscale, postprocess: the "
     "image file (.png, .jpg, .webp; a batch writes NAME-0.png, NAME-1.png, ...)"},
    {"scale", "S", {"upscale"}, "output size / input size (default: the model's native scale; needed for a filter)"},
    {"tile", "N", {"upscale"}, "tile side in input pixels for a model (0: untiled; default: the configured 256)"},
    {"dtype", "fp16|bf16|fp32", {"convert"}, "weight dtype written (default fp16)"},
    {"config-from", "DIR", {"inspect", "convert", "generate"},
     "diffusers folder whose config.json files win over the configs inferred from shapes"},
    {"tokenizers", "DIR", {"convert"}, "folder with tokenizer/ and tokenizer_2/ to copy in"},
    {"tokenizer", "1|2", {"tokenize"}, "which tokenizer of the model (default 1; a refiner has only 2)"},
    {"max-length", "N", {"tokenize"}, "pad and truncate to N ids (default 77); 0 = raw ids with BOS/EOS"},
    {"prompt", "TEXT", {"generate"}, "the prompt (A1111 emphasis: (word:1.2), [word], BREAK)"},
    {"negative-prompt", "TEXT", {"generate"}, "the negative prompt (default: none)"},
    {"width", "W", {"generate"}, "image width, a multiple of 8 (default: the init image's, else the model's)"},
    {"height", "H", {"generate"}, "image height, a multiple of 8 (default: as width)"},
    {"steps", "N", {"generate"}, "denoising steps (default 30)"},
    {"guidance", "G", {"generate"}, "classifier-free guidance scale (default 5)"},
    {"guidance-rescale", "R", {"generate"}, "guidance rescale phi in [0, 1] (default 0)"},
    {"scheduler", "NAME", {"generate"}, "A1111, ComfyUI or diffusers name (default: the model's own)"},
    {"karras", nullptr, {"generate"}, "use Karras sigmas with the scheduler"},
    {"seed", "S", {"generate"}, "random seed (default: random, printed)"},
    {"batch", "N", {"generate"}, "images per prompt (default 1)"},
    {"batch-seeds", "MODE", {"generate"}, "shared (one generator, diffusers) or per_image (seed + i, as A1111)"},
    {"init-image", "IMAGE", {"generate"}, "img2img / inpainting source image"},
    {"strength", "F", {"generate"}, "img2img strength in (0, 1] (default 0.75; inpainting 1)"},
    {"mask", "IMAGE", {"generate"}, "inpainting mask, white = repaint (needs --init-image)"},
    {"refiner", "PATH", {"generate"}, "an SDXL refiner (diffusers folder or single file) for the last steps"},
    {"refiner-switch", "F", {"generate"}, "fraction of the steps the base runs before the refiner (default 0.8)"},
    {"aesthetic-score", "A", {"generate"}, "refiner aesthetic score (default 6)"},
    {"negative-aesthetic-score", "A", {"generate"}, "refiner negative aesthetic score (default 2.5)"},
    {"original-size", "H,W", {"generate"}, "micro-conditioning original size (default: the output size)"},
    {"crop-top-left", "T,L", {"generate"}, "micro-conditioning crop origin (default 0,0)"},
    {"vae", "PATH", {"generate"}, "a VAE to decode with (diffusers VAE folder, or a model's VAE)"},
    {"lora", "FILE[:W]", {"generate"}, "a LoRA / LyCORIS .safetensors at weight W (default 1); repeatable"},
    {"controlnet", "PATH", {"generate"},
     "an SDXL ControlNet (diffusers folder or .safetensors); starts a group with the --control-* flags after it; "
     "repeatable"},
    {"control-image", "IMAGE", {"generate"}, "the group's control image (required per --controlnet)"},
    {"control-preprocess", "NAME", {"generate"},
     "canny, scribble, lineart, mlsd or normal (from a depth map); default: the image is the control map"},
    {"control-scale", "F", {"generate"}, "the group's conditioning scale (default 1)"},
    {"control-start", "F", {"generate"}, "fraction of the steps where the group starts acting (default 0)"},
    {"control-end", "F", {"generate"}, "fraction of the steps where it stops (default 1)"},
    {"hires-scale", "S", {"generate"},
     "A1111's hires fix: a second img2img pass at S times the size (1 < S <= 4; the other --hires-* flags imply 2)"},
    {"hires-steps", "N", {"generate"}, "denoising steps of the hires pass (default: --steps)"},
    {"hires-strength", "F", {"generate"}, "denoising strength of the hires pass (default 0.7)"},
    {"hires-upscaler", "NAME", {"generate"},
     "Latent (default), Latent (antialiased|bicubic|bicubic antialiased|nearest|nearest-exact), Lanczos, Nearest, "
     "or an upscaler model file"},
    {"upscale", "MODEL", {"generate", "postprocess"},
     "upscale the result: an upscaler model file, or lanczos, bicubic, bilinear, nearest"},
    {"upscale-by", "S", {"generate", "postprocess"}, "the --upscale factor (default: the model's native scale)"},
    {"enhance", "JSON", {"generate", "postprocess"},
     "enhancer options, e.g. '{\"sharpen\": {\"amount\": 0.5}, \"contrast\": 1.1}' (docs/protocol.md)"},
    {"safety-checker", "MODE", {"generate", "postprocess"}, "flag, black or blur: diffusers' safety checker"},
    {"safety-model", "DIR", {"generate", "postprocess"},
     "the safety checker: a diffusers model folder with safety_checker/ and feature_extractor/"},
    {"port", "P", {"http", "worker"}, "TCP port of the HTTP API (0: any free port, printed)"},
    {"host", "H", {"http", "worker"},
     "address to bind (default 127.0.0.1; another address needs an API key: SDXL_WORKERS_API_KEY)"},
    {"redis", "URL", {"http", "worker"},
     "the job queue: redis://host:port/db or unix:///path/to/redis.sock (default: $SDXL_WORKERS_REDIS_URL)"},
    {"worker-id", "ID", {"http", "worker"}, "this worker's id in the registry (default: HOSTNAME-PID)"},
    {"max-memory", "SIZE", {"generate", "upscale", "postprocess"},
     "memory budget, e.g. 8GB or 6GiB (default: the machine's memory minus a margin); the job is planned to fit "
     "it (attention slicing, offload, streamed weights) or refused"},
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
      } else if (!spec->value) {
        if (inline_value) options.errors.push_back("--" + name + " takes no value");
        flags.emplace_back(name, "true");
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
      options.ordered.emplace_back(name, value);
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
    text += "  --" + std::string(f.name) + (f.value ? std::string(" ") + f.value : "") + "\n      " + f.help;
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
