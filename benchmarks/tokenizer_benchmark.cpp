// CLIP tokenizer throughput (tokens/s) on a 10k-prompt corpus generated here from a word list
// with punctuation, digits, accents and CJK, as prompts users write. Warm: the BPE cache already
// holds the corpus's words (a long-running server); cold: a fresh tokenizer per pass.
#include <random>

#include <benchmark/benchmark.h>

#include "conditioning/prompt_chunks.h"
#include "models/tokenizer/clip_tokenizer.h"

namespace workers {
namespace {

const std::string kTokenizer = SDXL_FIXTURES_DIR "/tiny-sdxl/tokenizer";

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> prompts = [] {
    const std::vector<std::string> words = {
        "a", "photo", "of", "an", "astronaut", "riding", "horse", "on", "mars", "masterpiece,", "best", "quality,",
        "highly", "detailed", "8k", "uhd", "dslr", "soft", "lighting", "film", "grain", "portrait", "woman", "city",
        "night", "neon", "cyberpunk", "watercolor", "painting", "landscape", "mountains", "café", "über", "東京",
        "sunset!!!", "1girl", "solo", "long", "hair", "looking", "at", "viewer", "photorealistic", "(cinematic)",
        "[blurry]", "trending", "artstation", "octane", "render", "3.5mm", "f/1.8", "bokeh", "golden", "hour"};
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::size_t> pick(0, words.size() - 1), length(5, 40);
    std::vector<std::string> out;
    for (int i = 0; i < 10000; ++i) {
      std::string p;
      for (std::size_t n = length(rng); n > 0; --n) p += (p.empty() ? "" : " ") + words[pick(rng)];
      out.push_back(p);
    }
    return out;
  }();
  return prompts;
}

void tokenize_all(benchmark::State& state, const ClipTokenizer& tokenizer, std::int64_t& tokens) {
  for (const auto& p : corpus()) tokens += static_cast<std::int64_t>(tokenizer.encode_tokens(p).size());
  benchmark::ClobberMemory();
  (void)state;
}

void BM_ClipTokenizer_Corpus10kWarm(benchmark::State& state) {
  auto tokenizer = ClipTokenizer::load(kTokenizer);
  std::int64_t tokens = 0;
  tokenize_all(state, *tokenizer, tokens);  // fill the cache
  tokens = 0;
  for (auto _ : state) tokenize_all(state, *tokenizer, tokens);
  state.SetItemsProcessed(tokens);
  state.counters["prompts"] = 10000;
}
BENCHMARK(BM_ClipTokenizer_Corpus10kWarm)->Unit(benchmark::kMillisecond);

void BM_ClipTokenizer_Corpus10kCold(benchmark::State& state) {
  std::int64_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tokenizer = ClipTokenizer::load(kTokenizer);
    state.ResumeTiming();
    tokenize_all(state, *tokenizer, tokens);
  }
  state.SetItemsProcessed(tokens);
}
BENCHMARK(BM_ClipTokenizer_Corpus10kCold)->Unit(benchmark::kMillisecond);

void BM_ClipTokenizer_Load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ClipTokenizer::load(kTokenizer));
}
BENCHMARK(BM_ClipTokenizer_Load)->Unit(benchmark::kMillisecond);

void BM_PromptChunks_Corpus10kWithEmphasis(benchmark::State& state) {
  auto tokenizer = ClipTokenizer::load(kTokenizer);
  for (auto _ : state) {
    for (const auto& p : corpus()) benchmark::DoNotOptimize(chunk_prompt(parse_prompt_attention(p), *tokenizer));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 10000);
}
BENCHMARK(BM_PromptChunks_Corpus10kWithEmphasis)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace workers
