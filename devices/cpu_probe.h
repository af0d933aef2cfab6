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

}  // namespace workers
