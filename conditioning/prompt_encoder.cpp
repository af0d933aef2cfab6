#include "conditioning/prompt_encoder.h"

#include <algorithm>

#include "conditioning/prompt_chunks.h"
#include "models/nn/weight_stream.h"
#include "utilities/error.h"

namespace workers {
namespace {

std::vector<PromptSegment> segments_of(const std::string& text, const std::string& field, const PromptOptions& o,
                                       std::vector<std::string>& warnings) {
  if (!o.emphasis) return {PromptSegment{text}};
  return parse_prompt_attention(text, field, &warnings);
}

struct EncoderRun {
  ClipTextModel model;
  const ClipTokenizer* tokenizer;
  std::vector<TokenChunk> positive, negative;
};

// One encoder over its chunks: the chosen hidden state of each chunk, weighted with the mean
// restored (A1111), concatenated along the sequence; `pooled` from the first chunk.
at::Tensor encode_chunks(ClipTextModel& model, const std::vector<TokenChunk>& chunks, int hidden_index,
                         at::Tensor* pooled) {
  const auto device = compute_options(*model).device();
  std::vector<at::Tensor> parts;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& chunk = chunks[i];
    auto ids = torch::tensor(chunk.ids, torch::kLong).unsqueeze(0).to(device);
    auto out = model->forward(ids);
    const auto layers = static_cast<int>(out.hidden_states.size());
    if (-hidden_index > layers) {
      throw Error(ErrorCode::kInvalidRequest,
                  "clip_skip: the text encoder has only " + std::to_string(layers - 1) + " layers", "clip_skip");
    }
    auto z = out.hidden_states[static_cast<std::size_t>(layers + hidden_index)];
    const bool weighted = std::any_of(chunk.weights.begin(), chunk.weights.end(), [](float w) { return w != 1.0f; });
    if (weighted) {
      auto w = torch::tensor(chunk.weights, torch::kFloat).to(z.device(), z.scalar_type()).view({1, -1, 1});
      auto original_mean = z.mean();
      z = z * w;
      z = z * (original_mean / z.mean());
    }
    parts.push_back(z);
    if (i == 0 && pooled) *pooled = out.text_embeds.defined() ? out.text_embeds : out.pooler_output;
  }
  return torch::cat(parts, 1);
}

}  // namespace

EncodedPrompts encode_prompts(const SdxlTextEncoders& encoders, const std::string& prompt,
                              const std::optional<std::string>& negative, const PromptOptions& options) {
  return encode_prompts(encoders, PromptTexts{prompt, std::nullopt, negative, std::nullopt}, options);
}

EncodedPrompts encode_prompts(const SdxlTextEncoders& encoders, const PromptTexts& texts,
                              const PromptOptions& options) {
  if (!encoders.text_encoder_2 || !encoders.tokenizer_2) {
    throw Error(ErrorCode::kInternalError, "SDXL conditioning needs text_encoder_2 and tokenizer_2");
  }
  EncodedPrompts result;
  const int hidden_index = options.hidden_state_index;
  // Counted from the end (clip_skip.h never yields 0 or more); anything else would index past it.
  if (hidden_index >= 0) {
    throw Error(ErrorCode::kInternalError, "hidden_state_index must be negative, got " + std::to_string(hidden_index));
  }
  const bool zero_negative = !texts.negative && options.force_zeros_for_empty_prompt;
  const std::string negative = texts.negative.value_or("");

  std::vector<EncoderRun> runs;
  if (encoders.text_encoder) runs.push_back({encoders.text_encoder, encoders.tokenizer.get(), {}, {}});
  runs.push_back({encoders.text_encoder_2, encoders.tokenizer_2.get(), {}, {}});
  std::size_t chunks = 1;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& run = runs[i];
    if (!run.tokenizer) throw Error(ErrorCode::kInternalError, "a text encoder has no tokenizer");
    const bool second = i == 1;  // text_encoder_2 of a base model reads prompt_2 / negative_prompt_2
    run.positive = chunk_prompt(
        segments_of(second ? texts.prompt_2.value_or(texts.prompt) : texts.prompt,
                    second && texts.prompt_2 ? "prompt_2" : "prompt", options, result.warnings),
        *run.tokenizer);
    if (!zero_negative) {
      const bool own = second && texts.negative_2;
      run.negative = chunk_prompt(segments_of(own ? *texts.negative_2 : negative,
                                              own ? "negative_prompt_2" : "negative_prompt", options, result.warnings),
                                  *run.tokenizer);
    }
    chunks = std::max({chunks, run.positive.size(), run.negative.size()});
  }
  std::vector<at::Tensor> positive, negative_parts;
  for (auto& run : runs) {
    run.positive.resize(chunks, empty_chunk(*run.tokenizer));
    const bool last = &run == &runs.back();  // pooled text embeds come from text_encoder_2
    positive.push_back(encode_chunks(run.model, run.positive, hidden_index, last ? &result.positive.pooled : nullptr));
    if (!zero_negative) {
      run.negative.resize(chunks, empty_chunk(*run.tokenizer));
      negative_parts.push_back(
          encode_chunks(run.model, run.negative, hidden_index, last ? &result.negative.pooled : nullptr));
    }
  }
  result.positive.embeds = torch::cat(positive, -1);
  if (zero_negative) {
    result.negative.embeds = torch::zeros_like(result.positive.embeds);
    result.negative.pooled = torch::zeros_like(result.positive.pooled);
  } else {
    result.negative.embeds = torch::cat(negative_parts, -1);
  }
  // Both encoders parse the same text: report each finding once.
  std::vector<std::string> unique;
  for (auto& w : result.warnings) {
    if (std::find(unique.begin(), unique.end(), w) == unique.end()) unique.push_back(std::move(w));
  }
  result.warnings = std::move(unique);
  return result;
}

}  // namespace workers
