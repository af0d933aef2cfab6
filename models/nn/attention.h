// The one scaled-dot-product attention used by every network: plain softmax(QK^T/sqrt(d))V on
// libtorch 1.x, at::scaled_dot_product_attention on 2.x (fused kernels), optional slicing.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace workers {

struct AttentionOptions {
  bool causal = false;   // mask keys after the query position (CLIP text)
  bool upcast = false;   // scores and softmax in fp32 when inputs are fp16/bf16
  // > 0: process this many (batch × head) slices at a time; bounds the N×N score memory.
  std::int64_t slice_size = 0;
};

// q: [B, Nq, H*D], k/v: [B, Nk, H*D] -> [B, Nq, H*D], `heads` = H.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, std::int64_t heads,
                     const AttentionOptions& options = {});

}  // namespace workers
