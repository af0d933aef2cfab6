// Memory now: what this process uses on its device, its peak, and what the system could still
// give. The MemoryProbe role is what the memory manager's pressure levels read (tests use a fake;
// the device manager gives the CUDA one); ProcessMemoryProbe is the CPU's. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace workers {

struct MemorySample {
  std::uint64_t used = 0;              // resident set (CPU) or reserved bytes (CUDA)
  std::uint64_t peak = 0;              // its high-water mark
  std::uint64_t system_available = 0;  // MemAvailable (CPU) or the device's free memory
};

class MemoryProbe {
 public:
  virtual ~MemoryProbe() = default;
  virtual MemorySample sample() = 0;
  // Gives cached-but-unused device memory back (CUDA's caching allocator); nothing on a CPU.
  virtual void release_caches() {}
};

// /proc/self/status VmRSS and VmHWM, /proc/meminfo MemAvailable.
class ProcessMemoryProbe : public MemoryProbe {
 public:
  MemorySample sample() override;
};

// "Key:   123 kB" lines -> bytes (0 when absent); the parsers take text so they are testable.
std::uint64_t proc_kib_field(const std::string& text, const std::string& key);
// A whole (small, /proc) file as text; "" when unreadable.
std::string read_text_file(const char* path);

}  // namespace workers
