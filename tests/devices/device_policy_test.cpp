#include "devices/device_policy.h"

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers {
namespace {

DeviceInventory cpu_only() {
  DeviceInventory inv;
  inv.cpu.logical_cores = 8;
  inv.cpu.physical_cores = 4;
  inv.cpu.simd = {"avx2"};
  inv.backends = {{"cpu", true, ""}, {"cuda", false, "this libtorch build has no CUDA support"},
                  {"directml", false, "Windows only"}, {"mps", false, "macOS only"}};
  return inv;
}

DeviceInventory two_gpus() {
  auto inv = cpu_only();
  inv.torch_built_with_cuda = true;
  inv.cuda = {{0, "GPU A", 24ull << 30, 2ull << 30, 8, 6}, {1, "GPU B", 24ull << 30, 20ull << 30, 7, 5}};
  inv.backends[1] = {"cuda", true, "2 device(s)"};
  return inv;
}

DeviceConfig config(std::string device, std::string dtype = "auto", int threads = 0) {
  DeviceConfig c;
  c.device = std::move(device);
  c.dtype = std::move(dtype);
  c.threads = threads;
  return c;
}

std::string error_of(const DeviceConfig& c, const DeviceInventory& inv) {
  try {
    choose_device(c, inv);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConfigError);
    return e.what();
  }
  return "";
}

TEST(DevicePolicy, AutoPicksCpuWithFloat32AndOneThreadPerPhysicalCore) {
  auto s = choose_device(config("auto"), cpu_only());
  EXPECT_EQ(s.device, "cpu");
  EXPECT_EQ(s.dtype, "float32");
  EXPECT_EQ(s.threads, 4);
  ASSERT_FALSE(s.notes.empty());
  EXPECT_NE(s.notes[0].find("no CUDA support"), std::string::npos);
}

TEST(DevicePolicy, AutoPicksTheGpuWithMostFreeMemoryInFloat16) {
  auto s = choose_device(config("auto"), two_gpus());
  EXPECT_EQ(s.device, "cuda:1");
  EXPECT_EQ(s.dtype, "float16");
}

TEST(DevicePolicy, ExplicitCudaIndexIsChecked) {
  EXPECT_EQ(choose_device(config("cuda:0"), two_gpus()).device, "cuda:0");
  EXPECT_EQ(choose_device(config("cuda"), two_gpus()).device, "cuda:0");
  EXPECT_NE(error_of(config("cuda:2"), two_gpus()).find("only 2 CUDA device(s)"), std::string::npos);
  EXPECT_NE(error_of(config("cuda:x"), two_gpus()).find("bad CUDA index"), std::string::npos);
}

TEST(DevicePolicy, CudaWithoutCudaSaysWhy) {
  EXPECT_NE(error_of(config("cuda"), cpu_only()).find("no CUDA support"), std::string::npos);
}

TEST(DevicePolicy, DirectMlAndMpsAreReportedAsUnavailableHere) {
  EXPECT_NE(error_of(config("directml"), cpu_only()).find("DirectML is not available on this platform"),
            std::string::npos);
  EXPECT_NE(error_of(config("mps"), cpu_only()).find("MPS is not available on this platform"), std::string::npos);
  EXPECT_NE(error_of(config("tpu"), cpu_only()).find("unknown device"), std::string::npos);
}

TEST(DevicePolicy, Float16OnCpuIsRefusedBfloat16IsNoted) {
  EXPECT_NE(error_of(config("cpu", "float16"), cpu_only()).find("float16 is not supported on the CPU"),
            std::string::npos);
  auto s = choose_device(config("cpu", "bfloat16"), cpu_only());
  EXPECT_EQ(s.dtype, "bfloat16");
  EXPECT_NE(s.notes.back().find("avx512_bf16"), std::string::npos);
}

TEST(DevicePolicy, Bfloat16OnOldGpuIsNoted) {
  auto s = choose_device(config("cuda:1", "bfloat16"), two_gpus());
  EXPECT_NE(s.notes.back().find("compute capability 8.0"), std::string::npos);
}

TEST(DevicePolicy, ConfiguredThreadsWinAndExcessIsNoted) {
  auto s = choose_device(config("cpu", "auto", 16), cpu_only());
  EXPECT_EQ(s.threads, 16);
  EXPECT_NE(s.notes.back().find("exceed"), std::string::npos);
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

TEST(DevicePolicy, MemoryBudgetIsConfiguredOrTheDeviceMinusAMargin) {
  auto inv = two_gpus();
  inv.cpu.total_memory = 64ull << 30;
  const auto cpu = choose_device(config("cpu"), inv);
  EXPECT_EQ(cpu.memory_total, 64ull << 30);
  EXPECT_EQ(cpu.memory_budget, (64ull << 30) - (64ull << 30) / 10);  // 10 % margin on a CPU
  inv.cpu.total_memory = 4ull << 30;
  EXPECT_EQ(choose_device(config("cpu"), inv).memory_budget, 3ull << 30);  // at least 1 GiB
  const auto gpu = choose_device(config("cuda:1"), inv);
  EXPECT_EQ(gpu.memory_total, 24ull << 30);
  EXPECT_EQ(gpu.memory_budget, (24ull << 30) - (24ull << 30) / 20);  // 5 % on a GPU
  auto c = config("cpu");
  c.max_memory = 8ull << 30;
  EXPECT_EQ(choose_device(c, inv).memory_budget, 8ull << 30);
  EXPECT_NE(choose_device(c, inv).notes.back().find("exceeds the device's"), std::string::npos);  // 8 GiB > 4 GiB
  c.max_memory = 100ull << 20;
  EXPECT_NE(error_of(c, inv).find("workers.instructors.device.max_memory"), std::string::npos);
}

}  // namespace
}  // namespace workers
