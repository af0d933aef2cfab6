// Byte counts as people write them: "8GB", "512 MiB", "6.5G", 8589934592. Decimal and binary
// units both mean powers of 1024 (as Docker, Kubernetes' Gi and ComfyUI's --reserve-vram do for
// memory: "8GB" of RAM is 8 GiB), so a budget never surprises by 7 %.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace workers {

// Nullopt for anything that is not a non-negative number with an optional unit
// (B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB; case-insensitive, spaces allowed) or overflows.
std::optional<std::uint64_t> parse_byte_size(const std::string& text);

// "8.00 GiB", "512.0 MiB", "900 B": for messages and logs.
std::string format_bytes(std::uint64_t bytes);

}  // namespace workers
