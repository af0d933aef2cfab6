// libFuzzer target: any bytes as a .pth archive's data.pkl must read to a well-formed value tree
// or a MODEL_LOAD_ERROR, never crash, hang or over-allocate; every id in the tree must point
// inside it (the tree may share or cycle values, so the check walks it without recursion).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "models/io/pickle_reader.h"
#include "utilities/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto pickle = workers::read_pickle(bytes, "fuzz.pkl");
    const auto n = pickle.values.size();
    if (pickle.root >= n) __builtin_trap();
    for (const auto& v : pickle.values) {
      for (auto id : v.items) {
        if (id >= n) __builtin_trap();
      }
      if (v.kind == workers::PickleValue::Kind::kDict && v.items.size() % 2 != 0) __builtin_trap();
      if (v.kind == workers::PickleValue::Kind::kStorage && v.ref >= pickle.storages.size()) __builtin_trap();
      if (v.kind == workers::PickleValue::Kind::kTensor && v.ref >= pickle.tensors.size()) __builtin_trap();
    }
    for (const auto& t : pickle.tensors) {
      if (t.storage >= pickle.storages.size() || t.shape.size() != t.strides.size() || t.offset < 0) __builtin_trap();
    }
    pickle.find(pickle.root_value(), "params_ema");
  } catch (const workers::Error& e) {
    if (e.code() != workers::ErrorCode::kModelLoadError) __builtin_trap();
  }
  return 0;
}
