#include "utilities/memory_probe.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace workers {
std::string read_text_file(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::uint64_t proc_kib_field(const std::string& text, const std::string& key) {
  std::size_t at = 0;
  while ((at = text.find(key + ":", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::strtoull(text.c_str() + at + key.size() + 1, nullptr, 10) * 1024;
    at += key.size();
  }
  return 0;
}

MemorySample ProcessMemoryProbe::sample() {
  MemorySample sample;
  const std::string status = read_text_file("/proc/self/status");
  sample.used = proc_kib_field(status, "VmRSS");
  sample.peak = proc_kib_field(status, "VmHWM");
  sample.system_available = proc_kib_field(read_text_file("/proc/meminfo"), "MemAvailable");
  return sample;
}

}  // namespace workers
