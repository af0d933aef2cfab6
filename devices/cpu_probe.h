// CPU facts from the OS (Linux /proc, sysconf) and the compiler's CPU feature checks; the parsers
// take text so they are testable with canned /proc contents.
#pragma once

#include <string>

#include "devices/device_manager.h"

namespace workers {

CpuInfo probe_cpu();

// Fills model, logical and physical cores from /proc/cpuinfo text.
void parse_cpuinfo(const std::string& text, CpuInfo& cpu);
// Fills total and available memory from /proc/meminfo text (kB values).
void parse_meminfo(const std::string& text, CpuInfo& cpu);
// A cgroup's memory limit (v2 memory.max or v1 memory.limit_in_bytes text) in bytes; 0 for "max"
// or nothing readable.
std::uint64_t parse_cgroup_memory_limit(const std::string& text);

}  // namespace workers
