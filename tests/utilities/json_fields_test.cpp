#include "utilities/json_fields.h"

#include <gtest/gtest.h>
#include "support/errors.h"

namespace workers {
namespace {

std::string field_of_failure(const std::function<void()>& f) { return testing_support::catch_error(f).field; }

TEST(FieldReader, ReadsTypedValuesAndTracksUnread) {
  auto j = nlohmann::json::parse(R"({"a":"x","b":2,"c":1.5,"d":true,"e":null,"f":["p","q"],"g":0})");
  FieldReader r(j, "root");
  EXPECT_EQ(r.string("a"), "x");
  EXPECT_EQ(r.integer("b"), 2);
  EXPECT_DOUBLE_EQ(*r.number("c"), 1.5);
  EXPECT_EQ(r.boolean("d"), true);
  EXPECT_FALSE(r.string("e").has_value());  // null reads as absent
  EXPECT_EQ(r.string_list("f")->size(), 2u);
  EXPECT_EQ(r.unread(), std::vector<std::string>{"root.g"});
}

TEST(FieldReader, TypeErrorsNameTheField) {
  auto j = nlohmann::json::parse(R"({"w":"wide","n":1.5,"u":-3,"l":[1]})");
  FieldReader r(j, "req");
  EXPECT_EQ(field_of_failure([&] { r.integer("w"); }), "req.w");
  EXPECT_EQ(field_of_failure([&] { r.integer("n"); }), "req.n");
  EXPECT_EQ(field_of_failure([&] { r.unsigned_integer("u"); }), "req.u");
  EXPECT_EQ(field_of_failure([&] { r.string_list("l"); }), "req.l[0]");
}

TEST(FieldReader, WholeFloatsReadAsIntegers) {
  auto j = nlohmann::json::parse(R"({"w":1024.0})");
  FieldReader r(j, "");
  EXPECT_EQ(r.integer("w"), 1024);
}

TEST(FieldReader, RejectsNonObjects) {
  EXPECT_THROW(FieldReader(nlohmann::json::array(), "x"), Error);
}

}  // namespace
}  // namespace workers
