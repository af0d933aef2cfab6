// A pickle reader that never executes anything: a small stack machine for the plain-data opcodes
// of protocols 2-5 (torch.save writes protocol 2) that builds a value tree, with an allow list of
// the few globals a torch state dict needs (OrderedDict, the tensor rebuild functions, the
// storage types). Every other global, callable or extension opcode is refused by name.
// Torch-free and libzip-free (the fuzz target builds it alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace workers {

// A storage named by a persistent id ('storage', storage_type, key, location, numel): the bytes
// live outside the pickle, in the archive's data/<key> record.
struct PickleStorage {
  std::string key;
  std::string dtype;              // safetensors spelling: F32, F16, BF16, ... (U8 for untyped storage)
  std::size_t element_size = 1;   // bytes per element of `dtype`
  std::uint64_t numel = 0;        // elements (bytes for an untyped storage)
  std::string location;           // "cpu", "cuda:0", ... (informative only)
};

// A tensor as torch._utils._rebuild_tensor_v2 describes it: a strided view of a storage, in
// elements of the storage's dtype. Bounds against the storage are checked by the archive reader,
// which knows the storage's real size.
struct PickleTensor {
  std::size_t storage = 0;  // index into PickleData::storages
  std::int64_t offset = 0;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;
};

struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0.0;
  std::string text;                 // kString (UTF-8), kBytes, kGlobal ("module.name")
  std::vector<std::size_t> items;   // kTuple/kList (sets too): value ids; kDict: key, value, key, value...
  std::size_t ref = 0;              // kStorage: index into storages; kTensor: into tensors
  bool ordered_dict = false;        // a kDict made by collections.OrderedDict (BUILD may set its attributes)
};

// The result: values live in one arena and refer to each other by id, so a hostile pickle can
// share or even cycle values without recursion or leaks anywhere. Whoever walks the tree must
// bound its own depth (a list may contain itself).
struct PickleData {
  std::vector<PickleValue> values;
  std::vector<PickleStorage> storages;  // one per distinct key
  std::vector<PickleTensor> tensors;
  std::size_t root = 0;

  const PickleValue& value(std::size_t id) const { return values.at(id); }
  const PickleValue& root_value() const { return values.at(root); }
  // The value under string key `key` in `dict` (a kDict), or nullptr.
  const PickleValue* find(const PickleValue& dict, std::string_view key) const;
};

// Limits: a pickle that needs more is refused, never half-read.
constexpr std::size_t kMaxPickleDepth = 1000;        // outstanding MARKs, and nesting of values
constexpr std::size_t kMaxPickleValues = 1u << 22;   // values created
constexpr std::size_t kMaxPickleItems = 1u << 24;    // container entries plus stack slots
constexpr std::size_t kMaxPickleMemo = 1u << 20;     // memo entries

// Reads `bytes` (a whole pickle, STOP included). Throws Error(MODEL_LOAD_ERROR) "<name>: <problem>"
// naming the refused opcode or global, a truncation, or the limit exceeded.
PickleData read_pickle(std::string_view bytes, const std::string& name);

}  // namespace workers
