#include "models/io/pickle_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "utilities/error.h"

namespace workers {
namespace {

using Kind = PickleValue::Kind;

// The storage classes torch.save names in persistent ids. Typed storages are pickled by their
// legacy class name ("torch FloatStorage") even by torch 2.x; torch 1.x GPU saves may say
// "torch.cuda FloatStorage"; a bare untyped storage is "torch UntypedStorage".
struct StorageType {
  std::string_view name;
  std::string_view dtype;
  std::size_t size;
};
constexpr StorageType kStorageTypes[] = {
    {"DoubleStorage", "F64", 8}, {"FloatStorage", "F32", 4}, {"HalfStorage", "F16", 2},
    {"BFloat16Storage", "BF16", 2}, {"LongStorage", "I64", 8}, {"IntStorage", "I32", 4},
    {"ShortStorage", "I16", 2},  {"CharStorage", "I8", 1},   {"ByteStorage", "U8", 1},
    {"BoolStorage", "BOOL", 1},  {"UntypedStorage", "U8", 1},
};

const StorageType* storage_type(std::string_view global) {
  std::string_view name;
  for (std::string_view module : {"torch.", "torch.cuda.", "torch.storage."}) {
    if (global.size() > module.size() && global.substr(0, module.size()) == module) {
      name = global.substr(module.size());
      if (name.find('.') != std::string_view::npos) continue;
      if (module == "torch.storage." && name != "UntypedStorage") return nullptr;
      if (module == "torch.cuda." && name == "UntypedStorage") return nullptr;
      for (const auto& t : kStorageTypes) {
        if (t.name == name) return &t;
      }
    }
  }
  return nullptr;
}

// Callables REDUCE may apply; everything else named by GLOBAL is data only (storage types in
// persistent ids, tensor types as _rebuild_from_type_v2's argument).
constexpr std::string_view kOrderedDict = "collections.OrderedDict";
constexpr std::string_view kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildTensor = "torch._utils._rebuild_tensor";
constexpr std::string_view kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr std::string_view kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";
constexpr std::string_view kRebuildFromType = "torch._tensor._rebuild_from_type_v2";
constexpr std::string_view kTensorTypes[] = {"torch.Tensor", "torch.nn.parameter.Parameter"};

bool allowed_global(std::string_view global) {
  for (auto name : {kOrderedDict, kRebuildTensorV2, kRebuildTensor, kRebuildParameter, kRebuildParameterWithState,
                    kRebuildFromType}) {
    if (global == name) return true;
  }
  for (auto name : kTensorTypes) {
    if (global == name) return true;
  }
  return storage_type(global) != nullptr;
}

// Names from a hostile file go into messages: printable ASCII only, and not too long.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 120)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 120) out += "...";
  return out;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "global";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

class Machine {
 public:
  Machine(std::string_view bytes, const std::string& name) : in_(bytes), name_(name) {}

  PickleData run() {
    while (true) {
      if (pos_ >= in_.size()) fail("truncated: the pickle ends without a STOP opcode");
      op_pos_ = pos_;
      const auto op = static_cast<unsigned char>(in_[pos_++]);
      if (op == '.') {
        data_.root = pop();
        return std::move(data_);
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(ErrorCode::kModelLoadError, name_ + ": " + problem + " (pickle byte " + std::to_string(op_pos_) + ")");
  }

  // --- input ---------------------------------------------------------------------------------
  void need(std::uint64_t n) const {
    if (n > in_.size() - pos_) {
      fail("truncated: an opcode needs " + std::to_string(n) + " more bytes but " + std::to_string(in_.size() - pos_) +
           " are left");
    }
  }
  std::uint64_t read_le(int n) {
    need(n);
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ + i]);
    pos_ += n;
    return v;
  }
  std::string_view read_bytes(std::uint64_t n) {
    need(n);  // before any allocation: a length prefix can claim anything
    auto out = in_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::string_view read_line() {
    const auto end = in_.find('\n', pos_);
    if (end == std::string_view::npos) fail("truncated: a text argument has no end of line");
    auto out = in_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  std::int64_t parse_int(std::string_view text) const {
    bool negative = false;
    std::size_t i = 0;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
    if (i == text.size()) fail("bad integer \"" + printable(text) + "\"");
    std::int64_t v = 0;
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') fail("bad integer \"" + printable(text) + "\"");
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, negative ? -(text[i] - '0') : text[i] - '0', &v)) {
        fail("integer \"" + printable(text) + "\" does not fit 64 bits");
      }
    }
    return v;
  }

  // --- values --------------------------------------------------------------------------------
  std::size_t make(PickleValue v, std::size_t depth = 0) {
    if (data_.values.size() >= kMaxPickleValues) fail("more than " + std::to_string(kMaxPickleValues) + " values");
    data_.values.push_back(std::move(v));
    depth_.push_back(static_cast<std::uint32_t>(depth));
    return data_.values.size() - 1;
  }
  std::size_t make_scalar(Kind kind) {
    PickleValue v;
    v.kind = kind;
    return make(std::move(v));
  }
  std::size_t make_int(std::int64_t n) {
    PickleValue v;
    v.kind = Kind::kInt;
    v.integer = n;
    return make(std::move(v));
  }
  std::size_t make_text(Kind kind, std::string_view text) {
    PickleValue v;
    v.kind = kind;
    v.text = std::string(text);
    return make(std::move(v));
  }
  std::size_t make_container(Kind kind, std::vector<std::size_t> items) {
    std::size_t depth = 1;
    for (auto id : items) depth = std::max<std::size_t>(depth, depth_[id] + 1);
    if (depth > kMaxPickleDepth) fail("values nested deeper than " + std::to_string(kMaxPickleDepth));
    count_items(items.size());
    PickleValue v;
    v.kind = kind;
    v.items = std::move(items);
    return make(std::move(v), depth);
  }
  void count_items(std::size_t n) {
    items_ += n;
    if (items_ > kMaxPickleItems) fail("more than " + std::to_string(kMaxPickleItems) + " container entries");
  }
  PickleValue& at(std::size_t id) { return data_.values[id]; }
  // Depth only grows here as far as this container: an ancestor that already holds it keeps its
  // older depth, so the bound is a cheap early refusal, not a guarantee (see PickleData).
  void nest(std::size_t parent, std::size_t child) {
    depth_[parent] = std::max(depth_[parent], depth_[child] + 1);
    if (depth_[parent] > kMaxPickleDepth) fail("values nested deeper than " + std::to_string(kMaxPickleDepth));
  }

  // --- stack ---------------------------------------------------------------------------------
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(std::size_t id) {
    if (stack_.size() >= kMaxPickleItems) fail("the pickle stack grew past " + std::to_string(kMaxPickleItems));
    stack_.push_back(id);
  }
  std::size_t pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    auto id = stack_.back();
    stack_.pop_back();
    return id;
  }
  std::size_t top() const {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<std::size_t> pop_mark() {
    if (marks_.empty()) fail("no MARK to close");
    std::vector<std::size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  std::size_t pop_kind(Kind kind, std::string_view what) {
    auto id = pop();
    if (at(id).kind != kind) fail(std::string(what) + " is a " + std::string(kind_name(at(id).kind)));
    return id;
  }

  // --- memo ----------------------------------------------------------------------------------
  void memo_put(std::uint64_t key) {
    const auto id = top();
    if (memo_.size() >= kMaxPickleMemo && memo_.find(key) == memo_.end()) {
      fail("more than " + std::to_string(kMaxPickleMemo) + " memo entries");
    }
    memo_[key] = id;
  }
  void memo_get(std::uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    push(it->second);
  }

  // --- containers ----------------------------------------------------------------------------
  void append(std::size_t list, const std::vector<std::size_t>& items) {
    if (at(list).kind != Kind::kList) fail("APPEND/ADDITEMS to a " + std::string(kind_name(at(list).kind)));
    count_items(items.size());
    for (auto id : items) {
      nest(list, id);
      at(list).items.push_back(id);
    }
  }
  // Python dict semantics: a key set twice keeps its first position and its last value.
  std::string dict_key(std::size_t id) const {
    const auto& v = data_.values[id];
    switch (v.kind) {
      case Kind::kNone: return "n";
      case Kind::kBool: return "i" + std::to_string(v.boolean ? 1 : 0);
      case Kind::kInt: return "i" + std::to_string(v.integer);
      case Kind::kFloat:
        if (std::isfinite(v.real) && std::floor(v.real) == v.real && std::fabs(v.real) < 9e18) {
          return "i" + std::to_string(static_cast<std::int64_t>(v.real));
        } else {
          std::uint64_t bits;
          std::memcpy(&bits, &v.real, sizeof bits);
          return "f" + std::to_string(bits);
        }
      case Kind::kString: return "s" + v.text;
      case Kind::kBytes: return "b" + v.text;
      case Kind::kGlobal: return "g" + v.text;
      case Kind::kStorage:
      case Kind::kTensor: return "o" + std::to_string(id);  // hashed by identity, as in Python
      default: fail("a dict key may not be a " + std::string(kind_name(v.kind)));
    }
  }
  void set_items(std::size_t dict, const std::vector<std::size_t>& items) {
    if (at(dict).kind != Kind::kDict) fail("SETITEM on a " + std::string(kind_name(at(dict).kind)));
    if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
    auto& index = dict_index_[dict];
    for (std::size_t i = 0; i < items.size(); i += 2) {
      nest(dict, items[i + 1]);
      auto [it, added] = index.emplace(dict_key(items[i]), at(dict).items.size());
      if (added) {
        count_items(2);
        at(dict).items.push_back(items[i]);
        at(dict).items.push_back(items[i + 1]);
      } else {
        at(dict).items[it->second + 1] = items[i + 1];
      }
    }
  }
  std::size_t new_dict(bool ordered) {
    auto id = make_container(Kind::kDict, {});
    at(id).ordered_dict = ordered;
    return id;
  }

  // --- globals and calls ---------------------------------------------------------------------
  void push_global(std::string_view module, std::string_view name) {
    const std::string global = std::string(module) + "." + std::string(name);
    if (!allowed_global(global)) {
      fail("refusing pickle global " + printable(global) + ": only tensors, dicts, lists and numbers are read");
    }
    push(make_text(Kind::kGlobal, global));
  }

  std::int64_t int_arg(std::size_t id, std::string_view what) {
    if (at(id).kind != Kind::kInt) fail(std::string(what) + " is a " + std::string(kind_name(at(id).kind)));
    return at(id).integer;
  }
  std::vector<std::int64_t> dims_arg(std::size_t id, std::string_view what) {
    if (at(id).kind != Kind::kTuple) fail(std::string(what) + " is a " + std::string(kind_name(at(id).kind)));
    if (at(id).items.size() > 64) fail(std::string(what) + " has more than 64 dimensions");
    std::vector<std::int64_t> dims;
    for (auto d : at(id).items) {
      const auto n = int_arg(d, what);
      if (n < 0) fail(std::string(what) + " has a negative entry " + std::to_string(n));
      dims.push_back(n);
    }
    return dims;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
  // requires_grad, hooks and metadata change nothing about the bytes.
  std::size_t rebuild_tensor(const std::vector<std::size_t>& args, std::string_view function) {
    const auto& storage = at(args[0]);
    if (storage.kind != Kind::kStorage) fail(std::string(function) + ": argument 1 is a " + std::string(kind_name(storage.kind)));
    PickleTensor t;
    t.storage = storage.ref;
    t.offset = int_arg(args[1], "tensor storage_offset");
    if (t.offset < 0) fail("tensor storage_offset is negative");
    t.shape = dims_arg(args[2], "tensor size");
    t.strides = dims_arg(args[3], "tensor stride");
    if (t.shape.size() != t.strides.size()) {
      fail("tensor size has " + std::to_string(t.shape.size()) + " dimensions but stride " + std::to_string(t.strides.size()));
    }
    data_.tensors.push_back(std::move(t));
    PickleValue v;
    v.kind = Kind::kTensor;
    v.ref = data_.tensors.size() - 1;
    return make(std::move(v));
  }

  // `function` is a copy: making values may move the arena it came from.
  std::size_t call(const std::string function, std::size_t args_id, bool nested = false) {
    const std::vector<std::size_t> args = at(args_id).items;
    auto arity = [&](std::size_t low, std::size_t high) {
      if (args.size() < low || args.size() > high) {
        fail(std::string(function) + " called with " + std::to_string(args.size()) + " arguments");
      }
    };
    if (function == kOrderedDict) {
      arity(0, 0);
      return new_dict(true);
    }
    if (function == kRebuildTensorV2) {
      arity(6, 7);
      return rebuild_tensor(args, function);
    }
    if (function == kRebuildTensor) {
      arity(4, 4);
      return rebuild_tensor(args, function);
    }
    if (function == kRebuildParameter || function == kRebuildParameterWithState) {
      arity(function == kRebuildParameter ? 3 : 4, function == kRebuildParameter ? 3 : 4);
      if (at(args[0]).kind != Kind::kTensor) fail(std::string(function) + " of a " + std::string(kind_name(at(args[0]).kind)));
      return args[0];
    }
    if (function == kRebuildFromType && !nested) {
      // (func, new_type, args, state): a tensor with Python attributes; the attributes are dropped.
      arity(4, 4);
      const auto& func = at(args[0]);
      const auto& type = at(args[1]);
      bool tensor_type = false;
      for (auto name : kTensorTypes) tensor_type = tensor_type || (type.kind == Kind::kGlobal && type.text == name);
      if (func.kind != Kind::kGlobal || func.text == kRebuildFromType || !tensor_type || at(args[2]).kind != Kind::kTuple) {
        fail(std::string(function) + " with arguments other than a tensor rebuild");
      }
      const auto id = call(func.text, args[2], true);  // once: `nested` refuses a second level
      if (at(id).kind != Kind::kTensor) fail(std::string(function) + " did not rebuild a tensor");
      return id;
    }
    fail("refusing to call pickle global " + printable(function) + ": only tensors, dicts, lists and numbers are read");
  }

  // ('storage', storage_type, key, location, numel): the bytes are the archive's data/<key>.
  std::size_t persistent_load(std::size_t pid) {
    const auto& t = at(pid);
    if (t.kind != Kind::kTuple || t.items.size() != 5 || at(t.items[0]).kind != Kind::kString ||
        at(t.items[0]).text != "storage") {
      fail("persistent id is not a ('storage', type, key, location, numel) tuple");
    }
    const auto& type = at(t.items[1]);
    const auto* st = type.kind == Kind::kGlobal ? storage_type(type.text) : nullptr;
    if (!st) fail("persistent id names no storage type");
    const auto& key = at(t.items[2]);
    const auto& location = at(t.items[3]);
    if (key.kind != Kind::kString || key.text.empty() || location.kind != Kind::kString) {
      fail("persistent id has a bad storage key or location");
    }
    const auto numel = int_arg(t.items[4], "storage numel");
    if (numel < 0) fail("storage " + printable(key.text) + " has a negative size");

    auto [it, added] = storage_ids_.emplace(key.text, 0);
    if (added) {
      PickleStorage s;
      s.key = key.text;
      s.dtype = std::string(st->dtype);
      s.element_size = st->size;
      s.numel = static_cast<std::uint64_t>(numel);
      s.location = location.text;
      data_.storages.push_back(std::move(s));
      PickleValue v;
      v.kind = Kind::kStorage;
      v.ref = data_.storages.size() - 1;
      it->second = make(std::move(v));
    } else {
      const auto& s = data_.storages[at(it->second).ref];
      if (s.dtype != st->dtype || s.numel != static_cast<std::uint64_t>(numel)) {
        fail("storage " + printable(key.text) + " is named with two different types or sizes");
      }
    }
    return it->second;
  }

  [[noreturn]] void refuse(std::string_view opcode, std::string_view why) {
    fail("refusing pickle opcode " + std::string(opcode) + ": " + std::string(why));
  }

  // --- the opcodes ---------------------------------------------------------------------------
  void step(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        const auto version = read_le(1);
        if (version > 5) fail("unsupported pickle protocol " + std::to_string(version));
        return;
      }
      case 0x95: {  // FRAME: framing is only a read-ahead hint
        const auto length = read_le(8);
        if (length > in_.size() - pos_) fail("truncated: a FRAME of " + std::to_string(length) + " bytes runs past the end");
        return;
      }
      case '(':  // MARK
        if (marks_.size() >= kMaxPickleDepth) fail("MARKs nested deeper than " + std::to_string(kMaxPickleDepth));
        marks_.push_back(stack_.size());
        return;
      case '0':  // POP
        if (stack_.size() > floor()) {
          stack_.pop_back();
        } else {
          pop_mark();
        }
        return;
      case '1': pop_mark(); return;  // POP_MARK
      case '2': push(top()); return;  // DUP

      case 'N': push(make_scalar(Kind::kNone)); return;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto id = make_scalar(Kind::kBool);
        at(id).boolean = op == 0x88;
        push(id);
        return;
      }
      case 'I': {  // INT (text): "00"/"01" are the protocol 0 booleans
        auto line = read_line();
        if (line == "00" || line == "01") {
          auto id = make_scalar(Kind::kBool);
          at(id).boolean = line == "01";
          push(id);
        } else {
          push(make_int(parse_int(line)));
        }
        return;
      }
      case 'L': {  // LONG (text), "123L"
        auto line = read_line();
        if (!line.empty() && line.back() == 'L') line.remove_suffix(1);
        push(make_int(parse_int(line)));
        return;
      }
      case 'J': push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(read_le(4))))); return;  // BININT
      case 'K': push(make_int(static_cast<std::int64_t>(read_le(1)))); return;                              // BININT1
      case 'M': push(make_int(static_cast<std::int64_t>(read_le(2)))); return;                              // BININT2
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement of n bytes
        std::uint64_t n = op == 0x8a ? read_le(1) : read_le(4);
        if (op == 0x8b && n > 0x7fffffff) fail("LONG4 with a negative length");
        if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit 64 bits");
        std::uint64_t v = n == 0 ? 0 : read_le(static_cast<int>(n));
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~std::uint64_t{0} << (8 * n);  // sign-extend
        push(make_int(static_cast<std::int64_t>(v)));
        return;
      }
      case 'F': {  // FLOAT (text)
        const std::string line(read_line());
        char* end = nullptr;
        const double value = std::strtod(line.c_str(), &end);
        if (line.empty() || end != line.c_str() + line.size()) fail("bad float \"" + printable(line) + "\"");
        auto id = make_scalar(Kind::kFloat);
        at(id).real = value;
        push(id);
        return;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        need(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(in_[pos_ + i]);
        pos_ += 8;
        auto id = make_scalar(Kind::kFloat);
        std::memcpy(&at(id).real, &bits, sizeof bits);
        push(id);
        return;
      }

      case 'T': {  // BINSTRING (Python 2 str): read as text
        const auto n = read_le(4);
        if (n > 0x7fffffff) fail("BINSTRING with a negative length");
        push(make_text(Kind::kString, read_bytes(n)));
        return;
      }
      case 'U': push(make_text(Kind::kString, read_bytes(read_le(1)))); return;    // SHORT_BINSTRING
      case 'X': push(make_text(Kind::kString, read_bytes(read_le(4)))); return;    // BINUNICODE
      case 0x8c: push(make_text(Kind::kString, read_bytes(read_le(1)))); return;   // SHORT_BINUNICODE
      case 0x8d: push(make_text(Kind::kString, read_bytes(read_le(8)))); return;   // BINUNICODE8
      case 'B': push(make_text(Kind::kBytes, read_bytes(read_le(4)))); return;     // BINBYTES
      case 'C': push(make_text(Kind::kBytes, read_bytes(read_le(1)))); return;     // SHORT_BINBYTES
      case 0x8e:                                                                   // BINBYTES8
      case 0x96: push(make_text(Kind::kBytes, read_bytes(read_le(8)))); return;    // BYTEARRAY8
      case 'S': refuse("STRING", "protocol 0 quoted strings are not read (torch.save writes protocol 2)");
      case 'V': refuse("UNICODE", "protocol 0 escaped strings are not read (torch.save writes protocol 2)");

      case ')': push(make_container(Kind::kTuple, {})); return;  // EMPTY_TUPLE
      case 't': push(make_container(Kind::kTuple, pop_mark())); return;  // TUPLE
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<std::size_t> items(op - 0x84);
        for (auto i = items.size(); i-- > 0;) items[i] = pop();
        push(make_container(Kind::kTuple, std::move(items)));
        return;
      }
      case ']': push(make_container(Kind::kList, {})); return;  // EMPTY_LIST
      case 'l': push(make_container(Kind::kList, pop_mark())); return;  // LIST
      case 'a': {  // APPEND
        const auto item = pop();
        append(top(), {item});
        return;
      }
      case 'e': {  // APPENDS
        const auto items = pop_mark();
        append(top(), items);
        return;
      }
      case 0x8f: push(make_container(Kind::kList, {})); return;  // EMPTY_SET: read as a list
      case 0x90: {  // ADDITEMS
        const auto items = pop_mark();
        append(top(), items);
        return;
      }
      case 0x91: push(make_container(Kind::kList, pop_mark())); return;  // FROZENSET
      case '}': push(new_dict(false)); return;  // EMPTY_DICT
      case 'd': {  // DICT
        const auto items = pop_mark();
        const auto dict = new_dict(false);
        set_items(dict, items);
        push(dict);
        return;
      }
      case 's': {  // SETITEM
        const auto value = pop();
        const auto key = pop();
        set_items(top(), {key, value});
        return;
      }
      case 'u': {  // SETITEMS
        const auto items = pop_mark();
        set_items(top(), items);
        return;
      }

      case 'g': {  // GET (text)
        const auto key = parse_int(read_line());
        if (key < 0) fail("negative memo key");
        memo_get(static_cast<std::uint64_t>(key));
        return;
      }
      case 'h': memo_get(read_le(1)); return;  // BINGET
      case 'j': memo_get(read_le(4)); return;  // LONG_BINGET
      case 'p': {  // PUT (text)
        const auto key = parse_int(read_line());
        if (key < 0) fail("negative memo key");
        memo_put(static_cast<std::uint64_t>(key));
        return;
      }
      case 'q': memo_put(read_le(1)); return;  // BINPUT
      case 'r': memo_put(read_le(4)); return;  // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); return;  // MEMOIZE

      case 'c': {  // GLOBAL "module\nname\n"
        const auto module = read_line();
        const auto name = read_line();
        push_global(module, name);
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        const auto name = pop_kind(Kind::kString, "STACK_GLOBAL name");
        const auto module = pop_kind(Kind::kString, "STACK_GLOBAL module");
        push_global(at(module).text, at(name).text);
        return;
      }
      case 'R': {  // REDUCE
        const auto args = pop();
        const auto callable = pop();
        if (at(callable).kind != Kind::kGlobal) fail("REDUCE of a " + std::string(kind_name(at(callable).kind)));
        if (at(args).kind != Kind::kTuple) fail("REDUCE with arguments that are not a tuple");
        push(call(at(callable).text, args));
        return;
      }
      case 'b': {  // BUILD: only an OrderedDict's attributes (state_dict()._metadata), dropped
        pop();  // the state
        const auto& target = at(top());
        if (target.kind != Kind::kDict || !target.ordered_dict) {
          refuse("BUILD", "setting the state of a " + std::string(kind_name(target.kind)) + " is not allowed");
        }
        return;
      }
      case 0x81: {  // NEWOBJ cls.__new__(cls, *args): only OrderedDict() is plain data
        const auto args = pop();
        const auto cls = pop();
        if (at(cls).kind == Kind::kGlobal && at(cls).text == kOrderedDict && at(args).kind == Kind::kTuple &&
            at(args).items.empty()) {
          push(new_dict(true));
          return;
        }
        refuse("NEWOBJ", "creating a " + (at(cls).kind == Kind::kGlobal ? printable(at(cls).text) : std::string(kind_name(at(cls).kind))) +
                             " object is not allowed");
      }
      case 0x92: {  // NEWOBJ_EX
        pop();
        pop();
        const auto cls = pop();
        refuse("NEWOBJ_EX", "creating a " + (at(cls).kind == Kind::kGlobal ? printable(at(cls).text) : std::string(kind_name(at(cls).kind))) +
                                " object is not allowed");
      }
      case 'i': {  // INST "module\nname\n"
        const auto module = read_line();
        const auto name = read_line();
        refuse("INST", "creating a " + printable(std::string(module) + "." + std::string(name)) + " object is not allowed");
      }
      case 'o': {  // OBJ
        const auto items = pop_mark();
        std::string what = items.empty() ? "nothing" : std::string(kind_name(at(items[0]).kind));
        if (!items.empty() && at(items[0]).kind == Kind::kGlobal) what = printable(at(items[0]).text);
        refuse("OBJ", "creating a " + what + " object is not allowed");
      }
      case 'Q': push(persistent_load(pop())); return;  // BINPERSID
      case 'P': refuse("PERSID", "text persistent ids are not torch storages");
      case 0x82: refuse("EXT1", "the extension registry is not used by torch.save");
      case 0x83: refuse("EXT2", "the extension registry is not used by torch.save");
      case 0x84: refuse("EXT4", "the extension registry is not used by torch.save");
      case 0x97: refuse("NEXT_BUFFER", "out-of-band buffers are not used by torch.save");
      case 0x98: refuse("READONLY_BUFFER", "out-of-band buffers are not used by torch.save");
      default: {
        static const char kHex[] = "0123456789abcdef";
        fail(std::string("unknown pickle opcode 0x") + kHex[op >> 4] + kHex[op & 15] + " (not a pickle, or a newer protocol)");
      }
    }
  }

  std::string_view in_;
  const std::string& name_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  PickleData data_;
  std::vector<std::uint32_t> depth_;  // per value: nesting as built (see nest())
  std::vector<std::size_t> stack_;
  std::vector<std::size_t> marks_;    // stack sizes at each open MARK
  std::unordered_map<std::uint64_t, std::size_t> memo_;
  std::unordered_map<std::size_t, std::unordered_map<std::string, std::size_t>> dict_index_;  // dict -> key -> position
  std::unordered_map<std::string, std::size_t> storage_ids_;  // storage key -> its value
  std::size_t items_ = 0;
};

}  // namespace

const PickleValue* PickleData::find(const PickleValue& dict, std::string_view key) const {
  if (dict.kind != PickleValue::Kind::kDict) return nullptr;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const auto& k = values[dict.items[i]];
    if (k.kind == PickleValue::Kind::kString && k.text == key) return &values[dict.items[i + 1]];
  }
  return nullptr;
}

PickleData read_pickle(std::string_view bytes, const std::string& name) {
  return Machine(bytes, name).run();
}

}  // namespace workers
