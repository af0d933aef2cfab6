// Name conversion for original-format (SGM/LDM) SDXL checkpoints -> diffusers/transformers names,
// as explicit prefix tables (the facts of diffusers' convert_diffusers_to_original_sdxl.py, built
// from the checkpoint's own layout so base, refiner and other depths all map). Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace workers {

// What a UNet's input_blocks say about its structure.
struct UnetLayout {
  int levels = 0;
  int layers_per_block = 0;
  std::vector<bool> attention;  // per level: CrossAttn block or plain
  bool mid_attention = false;
};

// From UNet keys without the "model.diffusion_model." prefix. Throws Error(MODEL_LOAD_ERROR)
// when the blocks are not a UNet layout this engine knows.
UnetLayout infer_unet_layout(const std::vector<std::string>& keys);

// How a tensor must change besides its name.
enum class KeyTransform {
  kNone,
  kConv1x1ToLinear,  // VAE attention q/k/v/proj_out: [C, C, 1, 1] -> [C, C]
  kTranspose,        // OpenCLIP text_projection [hidden, proj] -> Linear weight [proj, hidden]
  kSplitQkv,         // OpenCLIP fused in_proj: one key -> q_proj, k_proj, v_proj
};

struct MappedKey {
  std::string name;  // diffusers name (for kSplitQkv: the name with "{}" where q/k/v goes)
  KeyTransform transform = KeyTransform::kNone;
};

// The UNet's prefix table, built once from its layout. Keys without "model.diffusion_model.";
// nullopt: the key has no diffusers counterpart.
class UnetKeyMap {
 public:
  explicit UnetKeyMap(const UnetLayout& layout);
  ~UnetKeyMap();
  std::optional<MappedKey> map(const std::string& key) const;
  // The other way: a diffusers UNet name -> its SGM name (no prefix); nullopt when no rule has it.
  std::optional<std::string> to_sgm(const std::string& diffusers_key) const;

 private:
  struct Rule;
  std::vector<Rule> rules_;
};

// A diffusers UNet's layout from its parameter names ("down_blocks.1.attentions.0....").
UnetLayout unet_layout_of(const std::vector<std::string>& diffusers_names);

// Keys without their component prefix. nullopt: the key has no diffusers counterpart.
std::optional<MappedKey> map_vae_key(const std::string& key, int levels);
std::optional<MappedKey> map_open_clip_key(const std::string& key);

// Keys present in SGM files that diffusers deliberately drops (not worth a warning).
bool is_known_unused_key(const std::string& full_key);

}  // namespace workers
