#include "inference/managers/memory_planner.h"

#include <algorithm>
#include <optional>
#include <string>

#include "utilities/byte_size.h"
#include "utilities/error.h"

namespace workers {
namespace {

using u64 = std::uint64_t;
constexpr u64 kTextActivations = 64ull << 20;  // 77-token chunks through CLIP: a few MB, rounded up

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

bool has_split(MemoryRung r) { return r == MemoryRung::kBatchSplit || r == MemoryRung::kStreamedTiled; }
bool has_tiling(MemoryRung r) {
  return r == MemoryRung::kVaeTiling || r == MemoryRung::kBatchSplit || r == MemoryRung::kStreamedTiled;
}
bool streams(MemoryRung r) { return r == MemoryRung::kStreamed || r == MemoryRung::kStreamedTiled; }

// One pass's activation peaks.
struct Phases {
  u64 text = kTextActivations;
  u64 denoise = 0;
  u64 decode = 0;
  u64 encode = 0;
};

Phases phases(const MemoryJob& job, const MemoryPlan& p) {
  Phases out;
  const int chunk = p.max_chunk > 0 ? std::min(p.max_chunk, job.batch) : job.batch;
  const std::int64_t model_batch = chunk * (job.cfg ? 2 : 1);
  const std::int64_t images = p.vae_sliced ? 1 : chunk;
  const std::int64_t tile = p.vae_tiled ? p.vae_tile : 0;
  const auto f = std::max<std::int64_t>(1, job.vae.downscale_factor());
  auto pass = [&](std::int64_t width, std::int64_t height, bool encode) {
    const u64 unet = unet_activation_bytes(job.unet, height / f, width / f, model_batch, p.attention_slice, job.element);
    // A ControlNet runs the UNet's down path on the same input and keeps its residuals.
    const u64 control = job.controlnets > 0 ? unet / 2 * static_cast<u64>(job.controlnets) : 0;
    out.denoise = std::max(out.denoise, unet + control);
    out.decode = std::max(out.decode, vae_decode_bytes(job.vae, height, width, images, tile, job.vae_element));
    if (encode) out.encode = std::max(out.encode, vae_encode_bytes(job.vae, height, width, images, tile, job.vae_element));
  };
  pass(job.width, job.height, job.encodes_image);
  if (job.hires_width > 0) pass(job.hires_width, job.hires_height, job.encodes_image);
  return out;
}

u64 bytes(const NetworkSize& n, unsigned element) { return n.parameters * element; }
// A streamed network's peak: its root (embeddings, conv_in/out) and the running units; a unit
// nested in another (a FeedForward in a transformer block in a Transformer2DModel) is live with
// its parents' own weights, so two of the largest is the bound.
u64 streamed_bytes(const NetworkSize& n, unsigned element) { return (n.root + 2 * n.largest_unit) * element; }

// Whether `rung` switches on something the rung before it did not, for this job.
bool changes_something(const MemoryJob& job, const MemoryRoom& room, MemoryRung rung) {
  const std::int64_t tile = MemoryPlan{}.vae_tile;
  const bool larger_than_tile = std::max({job.width, job.height, job.hires_width, job.hires_height}) > tile;
  const bool attends = std::any_of(job.unet.down_block_types.begin(), job.unet.down_block_types.end(),
                                   [](const std::string& t) { return t.find("CrossAttn") != std::string::npos; });
  switch (rung) {
    case MemoryRung::kResident: return true;
    case MemoryRung::kEvictCached: return room.evictable > 0;
    case MemoryRung::kAttentionSlicing: return attends;
    case MemoryRung::kVaeTiling: return larger_than_tile;
    case MemoryRung::kBatchSplit: return job.batch > 1;
    case MemoryRung::kOffload:
    case MemoryRung::kStreamed: return true;
    case MemoryRung::kStreamedTiled: return larger_than_tile || job.batch > 1;
  }
  return true;
}

}  // namespace

std::string_view to_string(MemoryRung rung) {
  switch (rung) {
    case MemoryRung::kResident: return "resident";
    case MemoryRung::kEvictCached: return "evict_cached";
    case MemoryRung::kAttentionSlicing: return "attention_slicing";
    case MemoryRung::kVaeTiling: return "vae_tiling";
    case MemoryRung::kBatchSplit: return "batch_split";
    case MemoryRung::kOffload: return "offload";
    case MemoryRung::kStreamed: return "streamed";
    case MemoryRung::kStreamedTiled: return "streamed_tiled";
  }
  return "resident";
}

nlohmann::json to_json(const MemoryPlan& p) {
  return {{"plan", std::string(to_string(p.rung))},
          {"planned", p.planned},
          {"estimate_bytes", p.estimate},
          {"budget_bytes", p.budget},
          {"available_bytes", p.available},
          {"evict_cached", p.evict_cached},
          {"attention_slice", p.attention_slice},
          {"vae_sliced", p.vae_sliced},
          {"vae_tiled", p.vae_tiled},
          {"vae_tile", p.vae_tiled ? p.vae_tile : 0},
          {"max_chunk", p.max_chunk},
          {"streamed", p.streamed},
          {"offload", p.hold_components},
          {"breakdown", p.breakdown}};
}

std::uint64_t unet_activation_bytes(const UNetConfig& unet, std::int64_t h, std::int64_t w, std::int64_t batch,
                                    std::int64_t slice, unsigned element) {
  const auto e = static_cast<u64>(element);
  const auto b = static_cast<u64>(batch);
  u64 skips = 0, working = 0, attention = 0;
  for (std::size_t l = 0; l < unet.block_out_channels.size(); ++l) {
    const auto n = static_cast<u64>(ceil_div(h, std::int64_t{1} << l) * ceil_div(w, std::int64_t{1} << l));
    const auto c = static_cast<u64>(unet.block_out_channels[l]);
    const auto layers = l < unet.layers_per_block.size() ? static_cast<u64>(unet.layers_per_block[l]) : 2;
    skips += (layers + 1) * b * n * c * e;       // what the down path keeps for the up path
    working = std::max(working, 6 * b * n * c * e);  // an up block's concatenated input, norms, convs
    const bool attends = l < unet.down_block_types.size() && unet.down_block_types[l].find("CrossAttn") != std::string::npos;
    if (!attends) continue;
    const auto heads = static_cast<u64>(l < unet.num_attention_heads.size() ? unet.num_attention_heads[l] : 8);
    const u64 slices = slice > 0 ? std::min<u64>(static_cast<u64>(slice), b * heads) : b * heads;
    const u64 scores = 2 * slices * n * n * e;   // scores and their softmax
    const u64 projections = 5 * b * n * c * e;   // q, k, v, the output and the sliced result
    const u64 geglu = 16 * b * n * c * e;        // proj to 8c, gelu(gate) and the product, 4c each
    attention = std::max({attention, scores + projections, geglu});
  }
  return skips + working + attention;
}

std::uint64_t vae_decode_bytes(const VaeConfig& vae, std::int64_t height, std::int64_t width, std::int64_t images,
                               std::int64_t tile, unsigned element) {
  const auto e = static_cast<u64>(element);
  if (tile > 0 && (height > tile || width > tile)) {
    // One tile at a time, plus every decoded tile kept until blended (tiles overlap by 25 %,
    // so 1/0.75^2 of the image) and the blended image: 3 channels each.
    const u64 tiles = static_cast<u64>(3 * height * width) * 16 / 9 * e + static_cast<u64>(3 * height * width) * e;
    return static_cast<u64>(images) * (vae_decode_bytes(vae, tile, tile, 1, 0, element) + tiles);
  }
  const auto f = std::max<std::int64_t>(1, vae.downscale_factor());
  const auto levels = vae.block_out_channels.size();
  const auto h = ceil_div(height, f), w = ceil_div(width, f);
  // Mid block at the latent size: attention over h*w tokens in one head (scores + softmax).
  const auto latent_pixels = static_cast<u64>(h * w);
  const u64 top = levels ? static_cast<u64>(vae.block_out_channels.back()) : 512;
  u64 peak = 2 * latent_pixels * latent_pixels * e + 3 * top * latent_pixels * e;
  // Up blocks in decoder order (channels reversed), each at twice the previous size after its
  // upsampler; a block's input, a norm/activation temporary and a conv output are live at once.
  u64 previous = top;
  for (std::size_t i = 0; i < levels; ++i) {
    const auto channels = static_cast<u64>(vae.block_out_channels[levels - 1 - i]);
    const u64 pixels = latent_pixels << (2 * i);
    peak = std::max(peak, 3 * std::max(previous, channels) * pixels * e);
    previous = channels;
  }
  return static_cast<u64>(images) * peak;
}

std::uint64_t vae_encode_bytes(const VaeConfig& vae, std::int64_t height, std::int64_t width, std::int64_t images,
                               std::int64_t tile, unsigned element) {
  const auto e = static_cast<u64>(element);
  if (tile > 0 && (height > tile || width > tile)) {
    return static_cast<u64>(images) * (vae_encode_bytes(vae, tile, tile, 1, 0, element) +
                                       static_cast<u64>(3 * height * width) * e);
  }
  const auto f = std::max<std::int64_t>(1, vae.downscale_factor());
  const auto h = ceil_div(height, f), w = ceil_div(width, f);
  const auto latent_pixels = static_cast<u64>(h * w);
  const u64 top = vae.block_out_channels.empty() ? 512 : static_cast<u64>(vae.block_out_channels.back());
  u64 peak = 2 * latent_pixels * latent_pixels * e + 3 * top * latent_pixels * e;
  u64 previous = vae.block_out_channels.empty() ? 128 : static_cast<u64>(vae.block_out_channels.front());
  const auto levels = vae.block_out_channels.size();
  for (std::size_t i = 0; i < levels; ++i) {
    const auto channels = static_cast<u64>(vae.block_out_channels[i]);
    const u64 pixels = latent_pixels << (2 * (levels - 1 - i));
    peak = std::max(peak, 3 * std::max(previous, channels) * pixels * e);
    previous = channels;
  }
  return static_cast<u64>(images) * peak;
}

std::uint64_t available_at(const MemoryRoom& room, MemoryRung rung) {
  if (room.budget == 0) return ~u64{0};
  u64 taken = room.held_by_others + (rung == MemoryRung::kResident ? room.evictable : 0);
  return room.budget > taken ? room.budget - taken : 0;
}

MemoryPlan plan_at(const MemoryJob& job, const MemoryRoom& room, MemoryRung rung) {
  MemoryPlan p;
  p.rung = rung;
  p.planned = true;
  p.budget = room.budget;
  p.available = available_at(room, rung);
  p.evict_cached = rung != MemoryRung::kResident;
  p.attention_slice = rung >= MemoryRung::kAttentionSlicing ? 1 : 0;
  // The VAE one image at a time is not bit-exact (a convolution over one image may take another
  // kernel path than over two), so it comes with the batch split, which is not either.
  p.vae_sliced = has_split(rung);
  p.vae_tiled = has_tiling(rung);
  p.max_chunk = has_split(rung) ? 1 : 0;
  p.streamed = rung >= MemoryRung::kOffload;
  p.hold_components = rung == MemoryRung::kOffload;

  const Phases a = phases(job, p);
  const unsigned e = job.element;
  const u64 text = bytes(job.text_size, e), unet = bytes(job.unet_size, e), vae = bytes(job.vae_size, job.vae_element);
  const u64 refiner_unet = bytes(job.refiner_unet_size, e), refiner_text = bytes(job.refiner_text_size, e);
  const u64 control = job.controlnet_parameters * e;
  // The VAE and ControlNets stay resident on every rung (small next to the UNet).
  const u64 always = vae + control;
  u64 peak = 0;
  nlohmann::json phase_peaks;
  if (!p.streamed) {
    const u64 weights = text + unet + refiner_unet + refiner_text + always;
    const u64 activations = std::max({a.text, a.denoise, a.decode, a.encode});
    peak = weights + activations;
    phase_peaks = {{"weights", weights}, {"activations", activations}};
  } else {
    const bool hold = p.hold_components;
    const u64 text_live = hold ? text + refiner_text
                               : streamed_bytes(job.text_size, e) + streamed_bytes(job.refiner_text_size, e);
    const u64 unet_live = hold ? std::max(unet, refiner_unet)
                               : std::max(streamed_bytes(job.unet_size, e), streamed_bytes(job.refiner_unet_size, e));
    const u64 text_phase = always + text_live + a.text;
    const u64 denoise_phase = always + unet_live + a.denoise;
    const u64 vae_phase = always + std::max(a.decode, a.encode);
    peak = std::max({text_phase, denoise_phase, vae_phase});
    phase_peaks = {{"text", text_phase}, {"denoise", denoise_phase}, {"vae", vae_phase}};
  }
  p.estimate = peak + room.overhead;
  p.breakdown = {{"phases", phase_peaks},
                 {"overhead", room.overhead},
                 {"unet_activations", a.denoise},
                 {"vae_decode_activations", a.decode},
                 {"vae_encode_activations", a.encode},
                 {"weights_resident", text + unet + refiner_unet + refiner_text + always}};
  return p;
}

MemoryPlan choose_plan(const MemoryJob& job, const MemoryRoom& room, MemoryRung from) {
  std::optional<MemoryPlan> cheapest;  // the smallest estimate tried, for the refusal
  for (int r = static_cast<int>(from); r < kMemoryRungs; ++r) {
    const auto rung = static_cast<MemoryRung>(r);
    if (job.loras && rung >= MemoryRung::kOffload) break;
    // A rung that changes nothing for this job (no batch to split, an image smaller than a tile,
    // nothing cached to evict) is not a new plan: retrying on it would fail the same way.
    if (!changes_something(job, room, rung)) continue;
    MemoryPlan plan = plan_at(job, room, rung);
    if (!cheapest || plan.estimate < cheapest->estimate) cheapest = plan;
    if (room.budget == 0 || plan.estimate <= plan.available) return plan;
  }
  std::string message;
  if (!cheapest) {
    message = "no cheaper memory plan is left for this job";
  } else {
    message = "this job needs about " + format_bytes(cheapest->estimate) + " even at its cheapest plan (" +
              std::string(to_string(cheapest->rung)) + "), but " + format_bytes(cheapest->available) + " of the " +
              format_bytes(room.budget) + " memory budget are available";
    if (room.held_by_others > 0) message += " (" + format_bytes(room.held_by_others) + " held by running jobs)";
    if (job.loras) message += "; a LoRA stack needs the networks resident, so offload and streaming were not tried";
    message += "; nothing was started: lower width/height or batch_size, or raise workers.instructors.device.max_memory";
  }
  throw Error(ErrorCode::kOomError, message);
}

}  // namespace workers
