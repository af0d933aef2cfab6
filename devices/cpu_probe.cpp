#include "devices/cpu_probe.h"

#include "utilities/memory_probe.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace workers {
namespace {

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<std::string> simd_flags() {
  std::vector<std::string> flags;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // Ordered from oldest to newest; names as /proc/cpuinfo spells them.
  if (__builtin_cpu_supports("sse4.2")) flags.push_back("sse4_2");
  if (__builtin_cpu_supports("avx")) flags.push_back("avx");
  if (__builtin_cpu_supports("avx2")) flags.push_back("avx2");
  if (__builtin_cpu_supports("fma")) flags.push_back("fma");
  if (__builtin_cpu_supports("avx512f")) flags.push_back("avx512f");
  if (__builtin_cpu_supports("avx512vnni")) flags.push_back("avx512_vnni");
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  if (__builtin_cpu_supports("avx512bf16")) flags.push_back("avx512_bf16");
#endif
#elif defined(__aarch64__)
  flags.push_back("neon");
#endif
  return flags;
}

}  // namespace

void parse_cpuinfo(const std::string& text, CpuInfo& cpu) {
  std::istringstream in(text);
  std::set<std::pair<std::string, std::string>> cores;  // (physical id, core id)
  std::string physical_id, line;
  int processors = 0;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon));
    std::string value = trim(line.substr(colon + 1));
    if (key == "processor") {
      ++processors;
    } else if (key == "model name" && cpu.model.empty()) {
      cpu.model = value;
    } else if (key == "physical id") {
      physical_id = value;
    } else if (key == "core id") {
      cores.emplace(physical_id, value);
    }
  }
  if (processors > 0) cpu.logical_cores = processors;
  if (!cores.empty()) cpu.physical_cores = static_cast<int>(cores.size());
}

std::uint64_t parse_cgroup_memory_limit(const std::string& text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return 0;  // "max": no limit
  return std::strtoull(text.c_str(), nullptr, 10);
}

void parse_meminfo(const std::string& text, CpuInfo& cpu) {
  cpu.total_memory = proc_kib_field(text, "MemTotal");
  cpu.available_memory = proc_kib_field(text, "MemAvailable");
}

CpuInfo probe_cpu() {
  CpuInfo cpu;
  cpu.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  parse_cpuinfo(read_text_file("/proc/cpuinfo"), cpu);
  parse_meminfo(read_text_file("/proc/meminfo"), cpu);
  if (cpu.total_memory == 0) {
    long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) cpu.total_memory = static_cast<std::uint64_t>(pages) * page;
  }
  // A container sees the host's /proc/meminfo; its cgroup's limit is what this process may use
  // (the OOM killer acts there, with no error to answer), so the memory budget starts from it.
  const std::uint64_t limit = parse_cgroup_memory_limit(read_text_file("/sys/fs/cgroup/memory.max") +
                                                        read_text_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
  if (limit > 0 && limit < cpu.total_memory) {
    cpu.total_memory = limit;
    cpu.available_memory = std::min(cpu.available_memory, limit);
  }
  // Containers see the host's /proc/cpuinfo; the affinity mask is what this process may use.
  cpu_set_t mask;
  if (::sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) > 0) {
    cpu.logical_cores = std::min(cpu.logical_cores > 0 ? cpu.logical_cores : CPU_COUNT(&mask), CPU_COUNT(&mask));
  }
  if (cpu.physical_cores == 0 || cpu.physical_cores > cpu.logical_cores) cpu.physical_cores = cpu.logical_cores;
  if (cpu.model.empty()) cpu.model = "unknown CPU";
  cpu.simd = simd_flags();
  return cpu;
}

}  // namespace workers
