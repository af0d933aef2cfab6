#include "models/io/pth_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <utility>

#include "models/io/pickle_reader.h"
#include "utilities/error.h"

namespace workers {
namespace {

using Kind = PickleValue::Kind;

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error(ErrorCode::kModelLoadError, path + ": " + problem);
}

// torch.save before 1.6 wrote a bare pickle stream that starts by pickling this magic number
// (0x1950a86a20f9469cfc6c as a LONG1 of 10 bytes).
constexpr std::string_view kLegacyMagic = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

bool looks_legacy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[32] = {};
  in.read(head, sizeof head);
  return std::string_view(head, static_cast<std::size_t>(in.gcount())).find(kLegacyMagic) != std::string_view::npos;
}

// Deflate cannot expand data by more than about 1032:1, so an entry claiming more is a zip
// bomb or a lie; this bounds every allocation by the file's real size.
constexpr std::uint64_t kMaxDeflateRatio = 1100;

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path) : path_(path) {
    int error = 0;
    zip_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (zip_) return;
    if (error == ZIP_ER_NOENT) fail(path, "no such file");
    if (error == ZIP_ER_NOZIP || error == ZIP_ER_INCONS) {
      if (looks_legacy(path)) {
        fail(path, "is a legacy (before PyTorch 1.6) torch.save file, which is not read; re-save it with a current "
                   "PyTorch (torch.save(torch.load(f), f)) or convert it to safetensors");
      }
      fail(path, std::string("is not a torch.save zip archive (") +
                     (error == ZIP_ER_NOZIP ? "not a zip file" : "inconsistent zip structure") + ")");
    }
    zip_error_t z;
    zip_error_init_with_code(&z, error);
    const std::string message = zip_error_strerror(&z);
    zip_error_fini(&z);
    fail(path, "cannot be opened as a zip archive: " + message);
  }
  ~ZipArchive() {
    if (zip_) zip_discard(zip_);
  }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const auto count = zip_get_num_entries(zip_, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* name = zip_get_name(zip_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      if (name) out.emplace_back(name);
    }
    return out;
  }

  bool contains(const std::string& name) const { return zip_name_locate(zip_, name.c_str(), ZIP_FL_ENC_RAW) >= 0; }

  // The whole record `name`; its size must be `expected` when given, else at most `limit`.
  std::vector<std::uint8_t> read(const std::string& name, std::uint64_t expected, std::uint64_t limit) const {
    const auto index = zip_name_locate(zip_, name.c_str(), ZIP_FL_ENC_RAW);
    if (index < 0) fail(path_, "has no record " + name);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip_, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
        !(st.valid & ZIP_STAT_COMP_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD)) {
      fail(path_, "cannot read the zip entry of " + name);
    }
    if (expected != kAnySize && st.size != expected) {
      fail(path_, name + " holds " + std::to_string(st.size) + " bytes but the pickle says " + std::to_string(expected));
    }
    if (st.size > limit) fail(path_, name + " is " + std::to_string(st.size) + " bytes, over the limit of " + std::to_string(limit));
    if (st.comp_method == ZIP_CM_STORE ? st.comp_size != st.size
                                       : st.size / kMaxDeflateRatio > st.comp_size + 4) {
      fail(path_, name + " claims " + std::to_string(st.size) + " bytes from " + std::to_string(st.comp_size) +
                      " compressed: corrupt or a zip bomb");
    }
    if (st.size > std::numeric_limits<std::size_t>::max()) fail(path_, name + " is too large to hold in memory");
    std::vector<std::uint8_t> out(static_cast<std::size_t>(st.size));
    zip_file_t* file = zip_fopen_index(zip_, static_cast<zip_uint64_t>(index), 0);
    if (!file) fail(path_, "cannot open " + name + ": " + zip_strerror(zip_));
    std::uint64_t got = 0;
    std::string problem;
    while (got < out.size()) {
      const auto n = zip_fread(file, out.data() + got, out.size() - got);
      if (n < 0) {
        problem = std::string("cannot read ") + name + ": " + zip_file_strerror(file);
        break;
      }
      if (n == 0) {
        problem = name + " ends after " + std::to_string(got) + " of its " + std::to_string(out.size()) + " bytes";
        break;
      }
      got += static_cast<std::uint64_t>(n);
    }
    if (problem.empty()) {
      std::uint8_t extra;
      if (zip_fread(file, &extra, 1) != 0) problem = name + " holds more bytes than its entry says";
    }
    if (zip_fclose(file) != 0 && problem.empty()) problem = "cannot read " + name + " (checksum error?)";
    if (!problem.empty()) fail(path_, problem);
    return out;
  }

  static constexpr std::uint64_t kAnySize = std::numeric_limits<std::uint64_t>::max();

 private:
  std::string path_;
  zip_t* zip_ = nullptr;
};

// torch.save names every record "<archive name>/...": find that prefix through data.pkl.
std::string find_prefix(const std::string& path, const std::vector<std::string>& names) {
  std::string prefix;
  int found = 0;
  for (const auto& name : names) {
    constexpr std::string_view kPickle = "/data.pkl";
    if (name.size() <= kPickle.size() || name.compare(name.size() - kPickle.size(), kPickle.size(), kPickle) != 0) continue;
    const auto candidate = name.substr(0, name.size() - kPickle.size());
    if (candidate.find('/') != std::string::npos) continue;
    prefix = candidate;
    ++found;
  }
  if (found == 0) fail(path, "is a zip archive without <name>/data.pkl: not a torch.save file");
  if (found > 1) fail(path, "holds more than one <name>/data.pkl");
  return prefix;
}

bool holds_tensors(const PickleData& pickle, const PickleValue& dict) {
  for (std::size_t i = 1; i < dict.items.size(); i += 2) {
    if (pickle.value(dict.items[i]).kind == Kind::kTensor) return true;
  }
  return false;
}

// Real-ESRGAN / BasicSR releases nest the weights; prefer the EMA ones as their loaders do.
const PickleValue& state_dict(const std::string& path, const PickleData& pickle) {
  const auto& root = pickle.root_value();
  if (root.kind != Kind::kDict) fail(path, "holds a pickled object that is not a dict of tensors");
  for (const char* key : {"params_ema", "params", "state_dict", "model"}) {
    const auto* nested = pickle.find(root, key);
    if (nested && nested->kind == Kind::kDict && holds_tensors(pickle, *nested)) return *nested;
  }
  if (!holds_tensors(pickle, root)) {
    std::string keys;
    for (std::size_t i = 0; i < root.items.size() && i < 20; i += 2) {
      const auto& k = pickle.value(root.items[i]);
      keys += (keys.empty() ? "" : ", ") + (k.kind == Kind::kString ? k.text.substr(0, 60) : std::string("?"));
    }
    fail(path, "holds no tensors (top-level keys: " + (keys.empty() ? std::string("none") : keys) + ")");
  }
  return root;
}

std::uint64_t checked_mul(const std::string& path, const std::string& what, std::uint64_t a, std::uint64_t b) {
  std::uint64_t out;
  if (__builtin_mul_overflow(a, b, &out)) fail(path, what + " is too large to address");
  return out;
}

std::uint64_t checked_add(const std::string& path, std::uint64_t a, std::uint64_t b) {
  std::uint64_t out;
  if (__builtin_add_overflow(a, b, &out)) fail(path, "its tensors are too large to address");
  return out;
}

struct Planned {
  std::string name;
  const PickleTensor* tensor;
  std::uint64_t numel;
};

// Copies the strided view into `dst`, row by row. Every index was checked against the storage.
void gather(const std::uint8_t* src, std::size_t esize, const PickleTensor& t, std::uint8_t* dst) {
  const std::size_t nd = t.shape.size();
  bool contiguous = true;
  std::int64_t expect = 1;
  for (std::size_t i = nd; i-- > 0;) {
    if (t.shape[i] != 1 && t.strides[i] != expect) contiguous = false;
    expect *= t.shape[i];
  }
  if (contiguous) {
    std::memcpy(dst, src + static_cast<std::size_t>(t.offset) * esize, static_cast<std::size_t>(expect) * esize);
    return;
  }
  // Not contiguous means nd >= 1.
  const std::int64_t inner = t.shape[nd - 1];
  const std::int64_t inner_stride = t.strides[nd - 1];
  std::vector<std::int64_t> index(nd - 1, 0);
  while (true) {
    std::int64_t base = t.offset;
    for (std::size_t d = 0; d + 1 < nd; ++d) base += index[d] * t.strides[d];
    if (inner_stride == 1) {
      std::memcpy(dst, src + static_cast<std::size_t>(base) * esize, static_cast<std::size_t>(inner) * esize);
      dst += static_cast<std::size_t>(inner) * esize;
    } else {
      for (std::int64_t j = 0; j < inner; ++j, dst += esize) {
        std::memcpy(dst, src + static_cast<std::size_t>(base + j * inner_stride) * esize, esize);
      }
    }
    std::size_t d = nd - 1;  // the outer dimensions, as an odometer
    while (true) {
      if (d == 0) return;
      --d;
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace

std::map<std::string, PthTensor> read_pth_state_dict(const std::string& path) {
  ZipArchive zip(path);
  const std::string prefix = find_prefix(path, zip.names());

  // Records are raw little-endian bytes; torch writes "byteorder" since 1.13 (older files are
  // little-endian in practice).
  if (zip.contains(prefix + "/byteorder")) {
    const auto order = zip.read(prefix + "/byteorder", ZipArchive::kAnySize, 16);
    if (std::string(order.begin(), order.end()) != "little") {
      fail(path, "was saved with byteorder \"" + std::string(order.begin(), order.end()) + "\"; only little-endian is read");
    }
  }

  const auto pickle_bytes = zip.read(prefix + "/data.pkl", ZipArchive::kAnySize, kMaxPthPickleBytes);
  const PickleData pickle = read_pickle(
      std::string_view(reinterpret_cast<const char*>(pickle_bytes.data()), pickle_bytes.size()), path + " (data.pkl)");
  const PickleValue& dict = state_dict(path, pickle);

  // Validate everything before reading a byte of tensor data.
  std::vector<std::vector<Planned>> by_storage(pickle.storages.size());
  std::vector<bool> seen_storage(pickle.storages.size(), false);
  std::uint64_t storage_bytes = 0;
  std::uint64_t output_bytes = 0;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const auto& value = pickle.value(dict.items[i + 1]);
    if (value.kind != Kind::kTensor) continue;
    const auto& key = pickle.value(dict.items[i]);
    if (key.kind != Kind::kString) fail(path, "has a tensor under a key that is not a string");
    const std::string where = "tensor \"" + key.text + "\"";
    const auto& t = pickle.tensors[value.ref];
    const auto& s = pickle.storages[t.storage];
    if (s.key.size() > 200 || s.key.find('/') != std::string::npos || s.key.find('\0') != std::string::npos) {
      fail(path, where + " names a bad storage key");
    }
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel = checked_mul(path, where + "'s shape", numel, static_cast<std::uint64_t>(d));
    checked_mul(path, "storage " + s.key, s.numel, s.element_size);
    if (numel > 0) {
      // The last element the view touches must lie inside the storage (strides are >= 0).
      unsigned __int128 last = static_cast<std::uint64_t>(t.offset);
      for (std::size_t d = 0; d < t.shape.size(); ++d) {
        last += static_cast<unsigned __int128>(t.shape[d] - 1) * static_cast<std::uint64_t>(t.strides[d]);
      }
      if (last >= s.numel) {
        fail(path, where + " (offset " + std::to_string(t.offset) + ", " + std::to_string(t.shape.size()) +
                       " dimensions) reaches element " + (last > std::numeric_limits<std::uint64_t>::max() ? std::string("2^64+") : std::to_string(static_cast<std::uint64_t>(last))) +
                       " of storage " + s.key + ", which holds " + std::to_string(s.numel));
      }
      // A view with more elements than its storage overlaps itself (a stride-0 expand); reading
      // one would let a tiny file ask for any amount of memory.
      if (numel > s.numel) fail(path, where + " is an overlapping view larger than its storage; not supported");
    }
    if (!seen_storage[t.storage]) {
      seen_storage[t.storage] = true;
      storage_bytes = checked_add(path, storage_bytes, s.numel * s.element_size);
    }
    output_bytes = checked_add(path, output_bytes, numel * s.element_size);
    by_storage[t.storage].push_back({key.text, &t, numel});
  }
  // Views share storages (tied weights, q/k/v slices); copies of them together may not
  // outgrow the stored data by much.
  if (output_bytes / 4 > storage_bytes + (1u << 18)) {
    fail(path, "its tensors would take " + std::to_string(output_bytes) + " bytes from " + std::to_string(storage_bytes) +
                   " bytes of storage: too many overlapping views");
  }

  // One storage at a time, released once its tensors are copied out.
  std::map<std::string, PthTensor> out;
  for (std::size_t si = 0; si < by_storage.size(); ++si) {
    if (by_storage[si].empty()) continue;
    const auto& s = pickle.storages[si];
    const std::uint64_t bytes = s.numel * s.element_size;
    const auto storage = zip.read(prefix + "/data/" + s.key, bytes, bytes);
    for (const auto& p : by_storage[si]) {
      PthTensor t;
      t.dtype = s.dtype;
      t.shape = p.tensor->shape;
      t.data.resize(static_cast<std::size_t>(p.numel * s.element_size));
      if (p.numel > 0) gather(storage.data(), s.element_size, *p.tensor, t.data.data());
      out[p.name] = std::move(t);
    }
  }
  return out;
}

}  // namespace workers
