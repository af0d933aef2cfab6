#include "devices/cpu_probe.h"

#include <gtest/gtest.h>

#include "devices/torch_device_manager.h"

namespace workers {
namespace {

TEST(CpuProbe, ParsesCpuinfoCoresAndModel) {
  const std::string text =
      "processor\t: 0\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: 0\n\n"
      "processor\t: 1\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: 0\n\n"
      "processor\t: 2\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: 1\n\n"
      "processor\t: 3\nmodel name\t: Test CPU 9000\nphysical id\t: 1\ncore id\t\t: 0\n";
  CpuInfo cpu;
  parse_cpuinfo(text, cpu);
  EXPECT_EQ(cpu.model, "Test CPU 9000");
  EXPECT_EQ(cpu.logical_cores, 4);
  EXPECT_EQ(cpu.physical_cores, 3);
}

TEST(CpuProbe, ParsesMeminfo) {
  CpuInfo cpu;
  parse_meminfo("MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    8192 kB\n", cpu);
  EXPECT_EQ(cpu.total_memory, 16384ull * 1024);
  EXPECT_EQ(cpu.available_memory, 8192ull * 1024);
}

TEST(CpuProbe, ParsesCgroupMemoryLimits) {
  EXPECT_EQ(parse_cgroup_memory_limit("8589934592\n"), 8ull << 30);
  EXPECT_EQ(parse_cgroup_memory_limit("max\n"), 0u);
  EXPECT_EQ(parse_cgroup_memory_limit(""), 0u);
}

TEST(CpuProbe, ProbesThisMachine) {
  auto cpu = probe_cpu();
  EXPECT_GE(cpu.logical_cores, 1);
  EXPECT_GE(cpu.physical_cores, 1);
  EXPECT_LE(cpu.physical_cores, cpu.logical_cores);
  EXPECT_GT(cpu.total_memory, 0u);
}

TEST(TorchDeviceManager, ReportsEveryBackendAndAppliesThreads) {
  TorchDeviceManager manager;
  auto inv = manager.inventory();
  EXPECT_FALSE(inv.torch_version.empty());
  std::vector<std::string> names;
  for (const auto& b : inv.backends) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cpu", "cuda", "directml", "mps"}));
  EXPECT_TRUE(inv.backends[0].available);
  EXPECT_FALSE(inv.backends[2].available);
  EXPECT_FALSE(inv.backends[3].available);
  EXPECT_EQ(inv.backends[1].available, !inv.cuda.empty());

  DeviceSelection one;
  one.threads = 1;
  manager.apply(one);
  EXPECT_NE(manager.inventory().backends[0].detail.find(", 1 intra-op threads"), std::string::npos);
  auto chosen = manager.select(DeviceConfig{});
  manager.apply(chosen);
  EXPECT_NE(manager.inventory().backends[0].detail.find(", " + std::to_string(chosen.threads) + " intra-op"),
            std::string::npos);
}

}  // namespace
}  // namespace workers
