// What one adapter module does to the weight it targets, for every kind lora_format reads. Each
// kind is a function F of the current weight; a stack applies W ← W + strength · (F(W) − W) term
// by term, in stack order, in float32 (for the additive kinds F(W) − W is the module's ΔW).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "models/io/lora_format.h"

namespace workers {

// F(W) − W at full strength, float32, shaped like `weight` (float32, the target's current value:
// the original plus the earlier terms of the stack), computed on its device:
//  LoRA  alpha/rank · up·down (through lora_mid when present); LoHa alpha/rank · (w1a·w1b) ⊙
//  (w2a·w2b); LoKr  kron(w1, w2) (alpha/rank when a factor is factorised); full difference: the
//  tensor itself; GLoRA, OFT, BOFT and DoRA depend on W: see lora_delta.cpp, which states ComfyUI's
//  formulas.
// Throws Error(INVALID_REQUEST, field) when the module cannot change a weight of this shape (a
// LoRA for another model).
at::Tensor lora_delta(const LoraModule& module, const at::Tensor& weight, const std::string& field);

// weight += strength · lora_delta(module, weight), in place, for a float32 `weight`. A plain LoRA
// (no mid, no DoRA) goes through one addmm_ (no ΔW-sized temporary). Same errors as lora_delta.
void add_lora_delta(at::Tensor& weight, const LoraModule& module, double strength,
                    const std::string& field);

}  // namespace workers
