// Loading a full-size SDXL single-file checkpoint (~6.9 GB of random fp16 weights that the
// benchmark writes itself) versus reading the file once, and the peak RSS it costs.
// Run: build/benchmarks/bench_model_io [--benchmark_filter=...]; needs ~7 GB free in $TMPDIR.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "models/io/single_file_checkpoint.h"
#include "support/sdxl_shapes.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

// Drops the file's pages from the page cache (no root needed), so the next read hits the disk.
void evict(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// What `cat file > /dev/null` does: one sequential read of every byte.
void read_once(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  std::vector<char> buffer(16 << 20);
  while (::read(fd, buffer.data(), buffer.size()) > 0) {
  }
  ::close(fd);
}

// Makes every byte of every converted tensor resident (touches each page once).
std::uint64_t touch_all(const workers::SingleFileCheckpoint& checkpoint) {
  std::uint64_t sum = 0;
  for (const auto& component : checkpoint.components) {
    for (const auto& [name, t] : component.tensors) {
      const auto* base = static_cast<const unsigned char*>(t.data_ptr());
      const std::size_t bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
      for (std::size_t i = 0; i < bytes; i += 4096) sum += base[i];
    }
  }
  return sum;
}

// state.range(0): 1 = cold (file evicted from the page cache before each measurement), 0 = warm.
void BM_SingleFile_LoadFullSdxlBase(benchmark::State& state) {
  const bool cold = state.range(0) == 1;
  const fs::path dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  const fs::path path = dir / "sdxl_workers_bench_full_sdxl.safetensors";
  const auto shapes = workers::testing_support::sdxl_base_checkpoint_shapes();
  std::uint64_t need = 0;
  for (const auto& [name, dims] : shapes) {
    std::uint64_t n = 2;
    for (auto d : dims) n *= static_cast<std::uint64_t>(d);
    need += n;
  }
  if (fs::space(dir).available < need + (1ull << 30)) {
    state.SkipWithError(("needs " + std::to_string(need >> 20) + " MiB free in " + dir.string()).c_str());
    return;
  }
  const auto size = workers::testing_support::write_checkpoint(path.string(), shapes, true);
  const double rss_before = peak_rss_bytes();
  for (auto _ : state) {
    if (cold) evict(path.string());
    auto start = Clock::now();
    read_once(path.string());
    const double cat_seconds = seconds_since(start);

    if (cold) evict(path.string());
    start = Clock::now();
    auto checkpoint = workers::load_single_file(path.string());
    benchmark::DoNotOptimize(touch_all(checkpoint));
    const double load_seconds = seconds_since(start);
    state.SetIterationTime(load_seconds);
    state.counters["file_GB"] = static_cast<double>(size) / 1e9;
    state.counters["read_once_s"] = cat_seconds;
    state.counters["load_s"] = load_seconds;
    state.counters["load_over_read"] = load_seconds / cat_seconds;
    state.counters["peak_rss_GB"] = peak_rss_bytes() / 1e9;
    state.counters["rss_over_file"] = peak_rss_bytes() / static_cast<double>(size);
    state.counters["rss_before_GB"] = rss_before / 1e9;
  }
  fs::remove(path);
}
BENCHMARK(BM_SingleFile_LoadFullSdxlBase)
    ->ArgName("cold")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
