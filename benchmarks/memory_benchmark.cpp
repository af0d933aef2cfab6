// Full-size SDXL under memory budgets, on this machine's CPU: a full-size SDXL base built from its
// published architecture (random fp16 weights under 1/64, so activations stay finite; a single
// .safetensors as a model hub ships it) generates one image of S x S pixels in 2 steps with
// `sdxl-workers generate --max-memory B`, one process per case. Reported per case: the memory plan
// the planner chose and its estimate, the wall time, the peak resident set measured from outside
// (wait4's ru_maxrss) and inside (VmHWM, printed by the CLI), the estimate's error against it, and
// whether the image equals the unlimited run's (max difference in 8-bit levels).
//
//   bench_memory --benchmark_filter='size:512/'   (a few minutes per case on 2 cores)
// Needs ~7 GB free in $TMPDIR for the checkpoint (kept between runs: SDXL_WORKERS_BENCH_KEEP=1).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <opencv2/imgcodecs.hpp>

#include "support/sdxl_shapes.h"

namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t GiB = 1ull << 30;

fs::path work_dir() {
  const fs::path dir = fs::path(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") / "sdxl_workers_bench_memory";
  fs::create_directories(dir);
  return dir;
}

// The checkpoint, written once (6.9 GB).
fs::path checkpoint() {
  const fs::path path = work_dir() / "sdxl-base-random.safetensors";
  if (!fs::exists(path)) {
    workers::testing_support::write_checkpoint(path.string(), workers::testing_support::sdxl_base_checkpoint_shapes(),
                                               true, 9);
  }
  return path;
}

struct Run {
  int status = -1;
  double seconds = 0;
  double max_rss = 0;  // bytes, from the kernel's accounting of the child
  std::string err;
};

Run run(const std::vector<std::string>& args, const fs::path& err_file) {
  Run r;
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    // A full-size 1024² job on two CPU cores runs longer than the default 600 s task timeout.
    ::setenv("SDXL_WORKERS_TASK_TIMEOUT", "7200", 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.max_rss = static_cast<double>(usage.ru_maxrss) * 1024.0;
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  r.err = text.str();
  return r;
}

double gib_of(const std::string& number, const std::string& unit) {
  const double v = std::stod(number);
  return unit == "GiB" ? v : unit == "MiB" ? v / 1024 : unit == "KiB" ? v / (1024 * 1024) : v / GiB;
}

// "memory plan streamed: estimate 5.12 GiB of 8.00 GiB budget; peak 4.87 GiB (VmHWM)"
void BM_FullSizeSdxl_GenerateUnderBudget(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const std::uint64_t budget = static_cast<std::uint64_t>(state.range(1)) * GiB;
  const fs::path model = checkpoint();
  const fs::path dir = work_dir();
  const std::string tag = std::to_string(size) + "_" + std::to_string(state.range(1));
  const fs::path output = dir / ("out_" + tag + ".png");
  std::vector<std::string> args = {SDXL_WORKERS_EXE, "generate", "--model", model.string(), "--prompt",
                                   "a lighthouse on a cliff at dawn", "--negative-prompt", "blurry", "--steps", "2",
                                   "--seed", "1", "--width", std::to_string(size), "--height", std::to_string(size),
                                   "--output", output.string()};
  if (budget > 0) {
    args.push_back("--max-memory");
    args.push_back(std::to_string(state.range(1)) + "GiB");
  }
  for (auto _ : state) {
    const Run r = run(args, dir / ("err_" + tag + ".txt"));
    state.SetIterationTime(r.seconds);
    if (r.status != 0) {
      state.SkipWithError(("generate failed: " + r.err.substr(r.err.size() > 600 ? r.err.size() - 600 : 0)).c_str());
      return;
    }
    std::smatch m;
    const std::regex line(R"(memory plan (\w+): estimate ([\d.]+) (\w+) of .* peak ([\d.]+) (\w+) \(VmHWM\))");
    if (std::regex_search(r.err, m, line)) {
      state.SetLabel(m[1].str());
      const double estimate = gib_of(m[2].str(), m[3].str()), vmhwm = gib_of(m[4].str(), m[5].str());
      state.counters["estimate_GiB"] = estimate;
      state.counters["vmhwm_GiB"] = vmhwm;
      state.counters["estimate_error_pct"] = 100.0 * (estimate - vmhwm) / vmhwm;
    }
    state.counters["wall_s"] = r.seconds;
    state.counters["max_rss_GiB"] = r.max_rss / GiB;
    const fs::path unlimited = dir / ("out_" + std::to_string(size) + "_0.png");
    if (budget > 0 && fs::exists(unlimited)) {
      const cv::Mat a = cv::imread(unlimited.string(), cv::IMREAD_UNCHANGED);
      const cv::Mat b = cv::imread(output.string(), cv::IMREAD_UNCHANGED);
      double worst = -1;
      if (!a.empty() && a.size == b.size && a.type() == b.type()) cv::minMaxLoc(cv::abs(a - b) + cv::abs(b - a), nullptr, &worst);
      state.counters["max_diff_vs_unlimited"] = worst;  // -1: not comparable
    }
  }
  if (!std::getenv("SDXL_WORKERS_BENCH_KEEP") && size == 1024 && state.range(1) == 6) fs::remove(model);
}
// {size, budget GiB (0: unlimited)}; the unlimited case of a size runs first (the reference).
BENCHMARK(BM_FullSizeSdxl_GenerateUnderBudget)
    ->ArgNames({"size", "budget_GiB"})
    ->Args({512, 0})
    ->Args({512, 12})
    ->Args({512, 8})
    ->Args({512, 6})
    ->Args({1024, 0})
    ->Args({1024, 12})
    ->Args({1024, 8})
    ->Args({1024, 6})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace
