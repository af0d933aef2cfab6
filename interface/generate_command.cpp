#include "interface/generate_command.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <iomanip>
#include <map>
#include <optional>
#include <sstream>

#include "compat/adapter_shorthand.h"
#include "conditioning/workers/input_images.h"
#include "interface/workers_interface.h"
#include "postprocessing/workers/resample_upscaler.h"
#include "utilities/byte_size.h"
#include "utilities/error.h"
#include "utilities/memory_probe.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

// Absolute and normal, without a trailing separator ("models/tiny-sdxl/" names the folder).
std::string absolute(const std::string& path) {
  auto p = fs::absolute(path).lexically_normal();
  if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
  return p.string();
}

std::string absolute_parent(const std::string& path) { return fs::path(absolute(path)).parent_path().string(); }

void add_root(std::vector<std::string>& roots, const std::string& root) {
  if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(root);
}

std::string file_name(const std::string& path) { return fs::path(absolute(path)).filename().string(); }

double number_text(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw_invalid("--" + flag, "expects a number, got \"" + text + "\"");
}

double number(const CliOptions& o, const std::string& flag) { return number_text(flag, o.value(flag)); }

// A whole number, or nullopt.
std::optional<long long> whole(const std::string& text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

long long integer(const CliOptions& o, const std::string& flag) {
  if (auto v = whole(o.value(flag))) return *v;
  throw_invalid("--" + flag, "expects a whole number, got \"" + o.value(flag) + "\"");
}

nlohmann::json pair(const CliOptions& o, const std::string& flag) {
  const std::string text = o.value(flag);
  const auto comma = text.find(',');
  const auto first = whole(text.substr(0, comma));
  const auto second = comma == std::string::npos ? std::nullopt : whole(text.substr(comma + 1));
  if (!first || !second) throw_invalid("--" + flag, "expects two whole numbers as A,B, got \"" + text + "\"");
  return {*first, *second};
}

// diffusers' default size: the UNet's sample_size times the VAE factor (1024 for SDXL).
int model_default_size(const std::string& model) {
  std::ifstream in(fs::path(model) / "unet" / "config.json");
  if (!in) return 1024;
  try {
    auto config = nlohmann::json::parse(in);
    return static_cast<int>(config.value("sample_size", 128) * 8);
  } catch (const std::exception&) {
    return 1024;
  }
}

// --lora FILE[:W], repeatable: each file's folder becomes a LoRA root.
nlohmann::json lora_flags(const CliOptions& o, WorkersConfig& config) {
  nlohmann::json loras = nlohmann::json::array();
  for (const auto& [flag, value] : o.ordered) {
    if (flag != "lora") continue;
    const auto item = compat::parse_adapter_shorthand(value, "--lora");
    const std::string path = absolute(item.name);
    add_root(config.model.lora_roots, absolute_parent(path));
    loras.push_back({{"name", path}, {"weight", item.weight}});
  }
  return loras;
}

// --controlnet PATH starts a group; the --control-* flags after it belong to it.
nlohmann::json controlnet_flags(const CliOptions& o, WorkersConfig& config) {
  nlohmann::json nets = nlohmann::json::array();
  const std::map<std::string, std::string> fields = {{"control-image", "image"}, {"control-preprocess", "preprocess"},
                                                     {"control-scale", "scale"}, {"control-start", "start"},
                                                     {"control-end", "end"}};
  for (const auto& [flag, value] : o.ordered) {
    if (flag == "controlnet") {
      const std::string path = absolute(value);
      add_root(config.model.controlnet_roots, absolute_parent(path));
      nets.push_back({{"model", path}});
      continue;
    }
    auto field = fields.find(flag);
    if (field == fields.end()) continue;
    if (nets.empty()) throw_invalid("--" + flag, "belongs to a --controlnet given before it");
    auto& net = nets.back();
    if (net.contains(field->second)) throw_invalid("--" + flag, "is given twice for one --controlnet");
    if (field->second == "image") {
      const std::string path = absolute(value);
      add_root(config.conditioning.image_roots, absolute_parent(path));
      net["image"] = path;
    } else if (field->second == "preprocess") {
      net["preprocess"] = value;
    } else {
      net[field->second] = number_text(flag, value);
    }
  }
  for (const auto& net : nets) {
    if (!net.contains("image")) throw_invalid("--control-image", "is needed for --controlnet " + net["model"].get<std::string>());
  }
  return nets;
}

std::string format_of(const std::string& output) {
  std::string ext = fs::path(output).extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".png") return "png";
  if (ext == ".jpg" || ext == ".jpeg") return "jpeg";
  if (ext == ".webp") return "webp";
  throw_invalid("--output", "must end in .png, .jpg, .jpeg or .webp, got \"" + output + "\"");
}

void draw_progress(std::ostream& err, const nlohmann::json& event) {
  const int step = event.value("step", 0), total = event.value("total", 0);
  const std::string stage = event.value("stage", "");
  std::ostringstream line;
  line << "\r" << std::left << std::setw(10) << stage;
  if (total > 0) {
    constexpr int kWidth = 30;
    const int filled = kWidth * step / total;
    line << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << step << "/" << total;
  }
  line << std::fixed << std::setprecision(1) << "  " << event.value("elapsed", 0.0) << "s";
  if (event.contains("eta") && event["eta"].is_number()) line << "  ETA " << event["eta"].get<double>() << "s";
  err << line.str() << "   " << std::flush;
}

// An upscaler named on the command line: a filter by name, else a model file whose folder
// becomes an upscaler root.
std::string upscaler_flag(const std::string& flag, const std::string& value, WorkersConfig& config) {
  if (resampling_filter(value)) return value;
  if (value.rfind("Latent", 0) == 0 && flag == "hires-upscaler") return value;
  std::error_code ec;
  if (!fs::is_regular_file(value, ec)) {
    throw_invalid("--" + flag, "\"" + value + "\" is neither an upscaler model file nor lanczos, bicubic, bilinear or nearest");
  }
  const std::string path = absolute(value);
  add_root(config.model.upscaler_roots, absolute_parent(path));
  return path;
}

// --upscale/--upscale-by, --enhance, --safety-checker/--safety-model: the request's `postprocess`.
// --max-memory SIZE: the device's memory budget (workers.instructors.device.max_memory).
void apply_max_memory(const CliOptions& o, WorkersConfig& config) {
  if (!o.values.count("max-memory")) return;
  const auto bytes = parse_byte_size(o.value("max-memory"));
  if (!bytes || *bytes == 0) {
    throw_invalid("--max-memory", "expected a size such as 8GB, 6GiB or 512MB, got \"" + o.value("max-memory") + "\"");
  }
  config.device.max_memory = *bytes;
}

nlohmann::json postprocess_flags(const CliOptions& o, WorkersConfig& config) {
  nlohmann::json post = nlohmann::json::object();
  if (o.values.count("upscale")) {
    post["upscale"] = {{"model", upscaler_flag("upscale", o.value("upscale"), config)}};
    if (o.values.count("upscale-by")) post["upscale"]["scale"] = number(o, "upscale-by");
  } else if (o.values.count("upscale-by")) {
    throw_invalid("--upscale-by", "needs --upscale");
  }
  if (o.values.count("enhance")) {
    try {
      post["enhance"] = nlohmann::json::parse(o.value("enhance"));
    } catch (const nlohmann::json::exception&) {
      throw_invalid("--enhance", "expects a JSON object, got \"" + o.value("enhance") + "\"");
    }
  }
  if (o.values.count("safety-model")) config.postprocessing.safety_checker_model = absolute(o.value("safety-model"));
  if (o.values.count("safety-checker")) post["safety_checker"] = o.value("safety-checker");
  return post;
}

}  // namespace

nlohmann::json postprocess_request(const CliOptions& o, WorkersConfig& config) {
  apply_max_memory(o, config);
  const std::string input = absolute(o.value("input"));
  const std::string output = o.value("output");
  add_root(config.conditioning.image_roots, absolute_parent(input));
  config.postprocessing.output_root = absolute_parent(output);
  nlohmann::json post;
  if (o.command == "upscale") {
    post["upscale"] = {{"model", upscaler_flag("model", o.value("model"), config)}};
    if (o.values.count("scale")) post["upscale"]["scale"] = number(o, "scale");
    if (o.values.count("tile")) post["upscale"]["tile"] = integer(o, "tile");
  } else {
    post = postprocess_flags(o, config);
    if (post.empty()) throw_invalid("--upscale", "postprocess needs --upscale, --enhance or --safety-checker");
  }
  return {{"message_type", "postprocess_request"},
          {"request_id", fs::path(output).stem().string()},
          {"image", input},
          {"postprocess", post},
          {"output_format", format_of(output)}};
}

nlohmann::json generate_request(const CliOptions& o, WorkersConfig& config) {
  apply_max_memory(o, config);
  const std::string model = o.value("model");
  const std::string output = o.value("output");
  nlohmann::json r = {{"message_type", "inference_request"},
                      {"request_id", fs::path(output).stem().string()},
                      {"prompt", o.value("prompt")},
                      {"output_format", format_of(output)}};
  add_root(config.model.model_roots, absolute_parent(model));
  nlohmann::json suite = {{"base", file_name(model)}};
  if (o.values.count("refiner")) {
    add_root(config.model.model_roots, absolute_parent(o.value("refiner")));
    suite["refiner"] = file_name(o.value("refiner"));
  }
  if (o.values.count("config-from")) {
    add_root(config.model.model_roots, absolute_parent(o.value("config-from")));
    suite["config_from"] = file_name(o.value("config-from"));
  }
  if (o.values.count("vae")) {
    add_root(config.model.model_roots, absolute_parent(o.value("vae")));
    // By its full path: a bare name would also match a vae.safetensors beside MODEL when the
    // flag names MODEL/vae (both folders become roots).
    suite["vae"] = absolute(o.value("vae"));
  }
  r["model"] = suite;
  config.postprocessing.output_root = absolute_parent(output);

  int width = 0, height = 0;
  for (const char* image_flag : {"init-image", "mask"}) {
    if (!o.values.count(image_flag)) continue;
    const std::string path = absolute(o.value(image_flag));
    add_root(config.conditioning.image_roots, absolute_parent(path));
    r[std::string(image_flag) == "mask" ? "mask_image" : "init_image"] = path;
    if (std::string(image_flag) == "init-image") {
      const Image image = read_image_file(path, 3, "--init-image");
      width = image.width / 8 * 8;  // diffusers rounds the image size down to the VAE factor
      height = image.height / 8 * 8;
    }
  }
  const auto controlnets = controlnet_flags(o, config);
  if (!width && !controlnets.empty()) {  // diffusers' ControlNet pipelines default to the control image's size
    const Image image = read_image_file(controlnets[0]["image"].get<std::string>(), 3, "--control-image");
    width = image.width / 8 * 8;
    height = image.height / 8 * 8;
  }
  if (!controlnets.empty()) r["controlnets"] = controlnets;
  if (const auto loras = lora_flags(o, config); !loras.empty()) r["loras"] = loras;
  if (!width) width = height = model_default_size(o.values.count("config-from") ? o.value("config-from") : model);
  if (o.values.count("width")) width = static_cast<int>(integer(o, "width"));
  if (o.values.count("height")) height = static_cast<int>(integer(o, "height"));
  else if (o.values.count("width") && !o.values.count("init-image")) height = width;
  r["width"] = width;
  r["height"] = height;

  if (o.values.count("negative-prompt")) r["negative_prompt"] = o.value("negative-prompt");
  if (o.values.count("steps")) r["steps"] = integer(o, "steps");
  if (o.values.count("guidance")) r["guidance_scale"] = number(o, "guidance");
  if (o.values.count("guidance-rescale")) r["guidance_rescale"] = number(o, "guidance-rescale");
  if (o.values.count("scheduler")) r["scheduler"] = o.value("scheduler");
  if (o.values.count("karras")) r["scheduler_options"] = {{"use_karras_sigmas", true}};
  if (o.values.count("seed")) r["seed"] = integer(o, "seed");
  if (o.values.count("batch")) r["batch_size"] = integer(o, "batch");
  if (o.values.count("batch-seeds")) r["batch_seeds"] = o.value("batch-seeds");
  if (o.values.count("strength")) r["strength"] = number(o, "strength");
  if (o.values.count("refiner-switch")) r["denoising_end"] = number(o, "refiner-switch");
  if (o.values.count("aesthetic-score")) r["aesthetic_score"] = number(o, "aesthetic-score");
  if (o.values.count("negative-aesthetic-score")) r["negative_aesthetic_score"] = number(o, "negative-aesthetic-score");
  if (o.values.count("original-size")) r["original_size"] = pair(o, "original-size");
  if (o.values.count("crop-top-left")) r["crops_coords_top_left"] = pair(o, "crop-top-left");
  if (o.values.count("hires-scale")) r["hires_scale"] = number(o, "hires-scale");
  if (o.values.count("hires-steps")) r["hires_steps"] = integer(o, "hires-steps");
  if (o.values.count("hires-strength")) r["hires_strength"] = number(o, "hires-strength");
  if (o.values.count("hires-upscaler")) {
    r["hires_upscaler"] = upscaler_flag("hires-upscaler", o.value("hires-upscaler"), config);
  }
  if (auto post = postprocess_flags(o, config); !post.empty()) r["postprocess"] = post;
  return r;
}

int run_generate(const CliOptions& options, WorkersConfig config, std::ostream& out, std::ostream& err) {
  const nlohmann::json request =
      options.command == "generate" ? generate_request(options, config) : postprocess_request(options, config);
  WorkersInterface engine(config);
  engine.initialize();
  std::promise<nlohmann::json> done;
  bool drew = false;
  // Events arrive on the engine's loop thread, one at a time.
  engine.submit(request, [&](const nlohmann::json& message) {
    if (message.contains("event")) {
      draw_progress(err, message);
      drew = true;
    } else {
      done.set_value(message);
    }
  });
  const nlohmann::json response = done.get_future().get();
  engine.shutdown();
  if (drew) err << "\n";
  for (const auto& w : response.value("warnings", nlohmann::json::array())) err << "warning: " << w.get<std::string>() << "\n";
  if (!response.value("success", false)) {
    const auto& e = response["error"];
    err << "sdxl-workers: " << e.value("code", "ERROR") << ": " << e.value("message", "") << "\n";
    return 1;
  }
  const auto& data = response["data"];
  if (data.contains("seed")) err << "seed " << data.value("seed", 0ull) << "\n";
  // The memory plan the job ran with, and the process's peak resident set.
  const auto first = data.value("assets", nlohmann::json::array());
  if (!first.empty() && first[0].contains("metadata") && first[0]["metadata"].contains("memory")) {
    const auto& plan = first[0]["metadata"]["memory"];
    const auto budget = plan.value("budget_bytes", 0ull);
    err << "memory plan " << plan.value("plan", "") << ": estimate " << format_bytes(plan.value("estimate_bytes", 0ull))
        << " of " << (budget ? format_bytes(budget) : std::string("no")) << " budget; peak "
        << format_bytes(ProcessMemoryProbe().sample().peak) << " (VmHWM)\n";
  }
  if (const auto nsfw = data.find("nsfw_content_detected"); nsfw != data.end()) {
    err << "nsfw_content_detected " << nsfw->dump() << "\n";
  }
  // The engine never overwrites a file (it picks a free name); the CLI's --output is the user's
  // explicit choice of name, so the files are moved there, replacing what was there.
  const auto assets = data.value("assets", nlohmann::json::array());
  const fs::path output = absolute(options.value("output"));
  for (std::size_t i = 0; i < assets.size(); ++i) {
    const fs::path written = assets[i].value("path", "");
    const fs::path wanted = output.parent_path() / (output.stem().string() +
                                                   (assets.size() > 1 ? "-" + std::to_string(i) : "") +
                                                   output.extension().string());
    std::error_code ec;
    if (written != wanted) fs::rename(written, wanted, ec);
    if (ec) {
      err << "sdxl-workers: cannot name " << written.string() << " " << wanted.string() << ": " << ec.message() << "\n";
      return 1;
    }
    out << wanted.string() << "\n";
  }
  return 0;
}

}  // namespace workers
