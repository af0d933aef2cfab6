#include "models/io/pth_archive.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "models/io/pickle_reader.h"
#include "utilities/error.h"

namespace workers {
namespace {

using namespace std::string_literals;  // pickles hold NUL bytes

const std::string kUpscalers = std::string(SDXL_FIXTURES_DIR) + "/upscalers/";

// --- building pickles and archives by hand -----------------------------------------------------

std::string le(std::uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string integer(std::int64_t n) { return "J" + le(static_cast<std::uint64_t>(n), 4); }
std::string ints(const std::vector<std::int64_t>& v) {
  std::string out = "(";
  for (auto n : v) out += integer(n);
  return out + "t";
}

// data.pkl of {"w": <tensor>} as torch.save writes it (protocol 2).
std::string tensor_pickle(const std::string& storage_type, std::int64_t numel, std::int64_t offset,
                          const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& strides) {
  return "\x80\x02}(" + str("w") + global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") +
         global("torch", storage_type) + str("0") + str("cpu") + integer(numel) + "tQ" + integer(offset) + ints(shape) +
         ints(strides) + "\x89" + global("collections", "OrderedDict") + ")RtRu.";
}

std::uint32_t crc32(const std::string& data) {
  std::uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A minimal stored (uncompressed) zip, as torch.save writes.
std::string zip_of(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string body, directory;
  for (const auto& [name, data] : entries) {
    const std::string common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(crc32(data), 4) +
                               le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(0, 2);
    directory += le(0x02014b50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) +
                 le(body.size(), 4) + name;
    body += le(0x04034b50, 4) + common + name + data;
  }
  return body + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(entries.size(), 2) +
         le(entries.size(), 2) + le(directory.size(), 4) + le(body.size(), 4) + le(0, 2);
}

std::string floats(const std::vector<float>& v) {
  std::string out(v.size() * 4, '\0');
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir() + "/pth_" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string archive(const std::string& name, const std::string& pickle, const std::string& storage,
                    std::vector<std::pair<std::string, std::string>> extra = {}) {
  std::vector<std::pair<std::string, std::string>> entries = {{"arch/data.pkl", pickle}, {"arch/data/0", storage}};
  for (auto& e : extra) entries.push_back(std::move(e));
  return write_file(name + ".pth", zip_of(entries));
}

std::vector<float> as_floats(const PthTensor& t) {
  std::vector<float> out(t.data.size() / 4);
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

// Runs `f`, which must throw a MODEL_LOAD_ERROR whose message holds every one of `parts`.
template <typename F>
void expect_refused(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning \"" << parts.front() << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModelLoadError);
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

void expect_pickle_refused(const std::string& bytes, const std::vector<std::string>& parts) {
  expect_refused([&] { read_pickle(bytes, "test.pkl"); }, parts);
}

// --- the fixtures ------------------------------------------------------------------------------

TEST(PthArchive, ReadsRealEsrganParamsEma) {
  const auto sd = read_pth_state_dict(kUpscalers + "tiny-RealESRGAN_x4plus.pth");
  EXPECT_EQ(sd.size(), 42u);
  const auto& first = sd.at("conv_first.weight");
  EXPECT_EQ(first.dtype, "F32");
  EXPECT_EQ(first.shape, (std::vector<std::int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(first.data.size(), 216u * 4);
  // The bytes of record data/0, as stored.
  EXPECT_EQ(std::vector<std::uint8_t>(first.data.begin(), first.data.begin() + 4),
            (std::vector<std::uint8_t>{0x79, 0x85, 0x33, 0x3d}));
  EXPECT_EQ(sd.at("conv_last.bias").shape, (std::vector<std::int64_t>{3}));
  EXPECT_TRUE(sd.count("body.0.rdb1.conv1.weight"));
  EXPECT_FALSE(sd.count("params_ema"));
}

TEST(PthArchive, ReadsABareStateDict) {
  const auto sd = read_pth_state_dict(kUpscalers + "tiny-ESRGAN-oldarch_x4.pth");
  EXPECT_EQ(sd.size(), 42u);
  EXPECT_EQ(sd.at("model.0.weight").shape, (std::vector<std::int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(sd.at("model.10.bias").shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(sd.at("model.1.sub.0.RDB1.conv1.0.weight").dtype, "F32");
}

TEST(PthArchive, ReadsParamsWithOrderedDictMetadata) {
  const auto sd = read_pth_state_dict(kUpscalers + "tiny-realesr-general-x4v3.pth");
  EXPECT_EQ(sd.size(), 17u);
  EXPECT_EQ(sd.at("body.0.weight").shape, (std::vector<std::int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(sd.at("body.10.bias").shape, (std::vector<std::int64_t>{48}));
  for (const auto& [name, t] : sd) EXPECT_EQ(t.dtype, "F32") << name;
}

TEST(PthArchive, PrefersParamsEmaOverParams) {
  // {"params": {"a": t}, "params_ema": {"b": t}}
  const std::string rebuild = global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") +
                              global("torch", "FloatStorage") + str("0") + str("cpu") + integer(2) + "tQ" +
                              integer(0) + ints({2}) + ints({1}) + "\x89" + global("collections", "OrderedDict") +
                              ")RtR";
  const std::string pickle = "\x80\x02}(" + str("params") + "}(" + str("a") + rebuild + "u" + str("params_ema") +
                             "}(" + str("b") + rebuild + "uu.";
  const auto sd = read_pth_state_dict(archive("ema", pickle, floats({1, 2})));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(as_floats(sd.at("b")), (std::vector<float>{1, 2}));
}

TEST(PthArchive, MaterialisesStridedViews) {
  // A transposed 2x2 view at offset 1 of [0, 1, 2, 3, 4]: [[1, 3], [2, 4]].
  const auto sd = read_pth_state_dict(archive("strided", tensor_pickle("FloatStorage", 5, 1, {2, 2}, {1, 2}),
                                              floats({0, 1, 2, 3, 4})));
  EXPECT_EQ(sd.at("w").shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(as_floats(sd.at("w")), (std::vector<float>{1, 3, 2, 4}));
  // A half-precision scalar.
  const auto half = read_pth_state_dict(archive("half", tensor_pickle("HalfStorage", 1, 0, {}, {}), "\x00\x3c"s));
  EXPECT_EQ(half.at("w").dtype, "F16");
  EXPECT_TRUE(half.at("w").shape.empty());
  EXPECT_EQ(half.at("w").data, (std::vector<std::uint8_t>{0x00, 0x3c}));
}

// --- hostile pickles -----------------------------------------------------------------------------

TEST(PickleReader, RefusesOsSystem) {
  expect_pickle_refused("\x80\x02" + global("os", "system") + str("echo pwned") + "\x85R.", {"os.system", "refusing"});
  // The same through STACK_GLOBAL (protocol 4).
  expect_pickle_refused("\x80\x04\x8c\x02os\x8c\x06system\x93."s, {"os.system"});
  // An allowed name called where only data is allowed.
  expect_pickle_refused("\x80\x02" + global("torch", "FloatStorage") + ")R.", {"torch.FloatStorage"});
}

TEST(PickleReader, RefusesObjectOpcodes) {
  expect_pickle_refused("\x80\x02" + std::string("\x82\x01") + ".", {"EXT1"});
  expect_pickle_refused("(" + std::string("ibuiltins\neval\n") + ".", {"INST", "builtins.eval"});
  expect_pickle_refused("\x80\x02]" + str("x") + "b.", {"BUILD"});
  expect_pickle_refused("\x80\x02" + global("collections", "OrderedDict") + str("x") + "\x85\x81.", {"NEWOBJ"});
  expect_pickle_refused("\x80\x02" + std::string("P1\n") + ".", {"PERSID"});
}

TEST(PickleReader, RefusesUnknownOpcodes) {
  expect_pickle_refused("\x80\x02\xff.", {"unknown pickle opcode 0xff"});
  expect_pickle_refused("\x80\x09N.", {"protocol 9"});
  expect_pickle_refused("\x7f" "ELF", {"unknown pickle opcode 0x7f"});
}

TEST(PickleReader, RefusesTruncatedStreams) {
  expect_pickle_refused("", {"truncated"});
  expect_pickle_refused("\x80\x02}", {"truncated"});
  expect_pickle_refused("\x80\x02X\x05\x00\x00\x00"s + "ab", {"truncated"});
  expect_pickle_refused("\x80\x02J\x01\x00"s, {"truncated"});
  expect_pickle_refused("\x80\x02\x85.", {"stack underflow"});
  expect_pickle_refused("\x80\x02h\x07."s, {"memo key 7"});
  // Every prefix of a real data.pkl fails cleanly.
  const std::string whole = tensor_pickle("FloatStorage", 4, 0, {2, 2}, {2, 1});
  for (std::size_t n = 0; n + 1 < whole.size(); ++n) EXPECT_THROW(read_pickle(whole.substr(0, n), "t"), Error) << n;
  EXPECT_NO_THROW(read_pickle(whole, "t"));
}

TEST(PickleReader, RefusesDeepNesting) {
  expect_pickle_refused("\x80\x02" + std::string(100000, '('), {"nested deeper"});
  expect_pickle_refused("\x80\x02)" + std::string(100000, '\x85') + ".", {"nested deeper"});
  // Lists nested through the memo, one level per 8 bytes.
  std::string deep = "\x80\x02]q\x00"s;
  for (int i = 0; i < 5000; ++i) deep += "]h\x00"s + "aq\x00"s + "0";
  deep.pop_back();
  expect_pickle_refused(deep + ".", {"nested deeper"});
  EXPECT_NO_THROW(read_pickle("\x80\x02" + std::string(900, '(') + std::string(900, 't') + ".", "t"));
}

TEST(PickleReader, RefusesHugeLengthPrefixes) {
  expect_pickle_refused("\x80\x02X\xff\xff\xff\xff.", {"truncated", "4294967295"});
  expect_pickle_refused("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f."s, {"truncated"});
  expect_pickle_refused("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", {"truncated"});
  expect_pickle_refused("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff.", {"FRAME"});
  expect_pickle_refused("\x80\x02\x8b\xff\xff\xff\x7f.", {"does not fit 64 bits"});
}

TEST(PickleReader, ReadsPlainData) {
  const auto data = read_pickle("\x80\x02}(" + str("a") + "K\x01" + str("b") + "](\x88N" + "G\x3f\xf8\0\0\0\0\0\0"s +
                                    "\x8a\x02\x00\x80"s + "eu" + str("a") + "K\x02s.",
                                "t");
  const auto& root = data.root_value();
  ASSERT_EQ(root.kind, PickleValue::Kind::kDict);
  ASSERT_EQ(root.items.size(), 4u);  // "a" set twice keeps one entry, the last value
  EXPECT_EQ(data.find(root, "a")->integer, 2);
  const auto* list = data.find(root, "b");
  ASSERT_EQ(list->items.size(), 4u);
  EXPECT_TRUE(data.value(list->items[0]).boolean);
  EXPECT_EQ(data.value(list->items[1]).kind, PickleValue::Kind::kNone);
  EXPECT_EQ(data.value(list->items[2]).real, 1.5);
  EXPECT_EQ(data.value(list->items[3]).integer, -32768);
}

// --- hostile archives ------------------------------------------------------------------------------

TEST(PthArchive, RefusesAPickleThatCallsOsSystem) {
  const auto path = archive("os_system", "\x80\x02" + global("os", "system") + str("rm -rf /") + "\x85R.", "");
  expect_refused([&] { read_pth_state_dict(path); }, {path, "os.system"});
}

TEST(PthArchive, RefusesViewsOutsideTheirStorage) {
  const std::string storage = floats({0, 1, 2, 3});
  expect_refused([&] { read_pth_state_dict(archive("stride", tensor_pickle("FloatStorage", 4, 0, {2, 2}, {4, 1}), storage)); },
                 {"tensor \"w\"", "reaches element 5", "holds 4"});
  expect_refused([&] { read_pth_state_dict(archive("offset", tensor_pickle("FloatStorage", 4, 3, {2}, {1}), storage)); },
                 {"reaches element 4"});
  expect_refused([&] { read_pth_state_dict(archive("huge", tensor_pickle("FloatStorage", 4, 0, {1 << 30, 1 << 30}, {0, 0}), storage)); },
                 {"overlapping view"});
  // The pickle says 8 floats, the record holds 4.
  expect_refused([&] { read_pth_state_dict(archive("short", tensor_pickle("FloatStorage", 8, 0, {8}, {1}), storage)); },
                 {"data/0 holds 16 bytes but the pickle says 32"});
}

TEST(PthArchive, RefusesFilesThatAreNotTorchArchives) {
  const auto text = write_file("text.pth", "this is not a zip file at all, just some text");
  expect_refused([&] { read_pth_state_dict(text); }, {text, "not a torch.save zip archive"});
  const auto legacy = write_file("legacy.pth", "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s);
  expect_refused([&] { read_pth_state_dict(legacy); }, {"legacy", "PyTorch 1.6"});
  const auto no_pickle = write_file("no_pickle.pth", zip_of({{"arch/data/0", floats({1})}}));
  expect_refused([&] { read_pth_state_dict(no_pickle); }, {"without <name>/data.pkl"});
  expect_refused([&] { read_pth_state_dict(testing::TempDir() + "/pth_missing.pth"); }, {"no such file"});
  const auto big_endian = archive("big", tensor_pickle("FloatStorage", 1, 0, {1}, {1}), floats({1}), {{"arch/byteorder", "big"}});
  expect_refused([&] { read_pth_state_dict(big_endian); }, {"byteorder \"big\""});
  const auto missing = write_file("missing_record.pth",
                                  zip_of({{"arch/data.pkl", tensor_pickle("FloatStorage", 1, 0, {1}, {1})}}));
  expect_refused([&] { read_pth_state_dict(missing); }, {"has no record arch/data/0"});
  const auto no_tensors = archive("no_tensors", "\x80\x02}(" + str("version") + "K\x01u.", "");
  expect_refused([&] { read_pth_state_dict(no_tensors); }, {"holds no tensors", "version"});
}

}  // namespace
}  // namespace workers
