// parse_http_target: the request target's path and query as the server's handlers see them,
// percent-escapes (valid, invalid, %00), '+' in the path and the query, and the query's edge cases.
#include "service/http_target.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "service/thrown_by.h"

namespace workers {
namespace {

using Query = std::map<std::string, std::string>;
using testing_support::thrown_by;

TEST(HttpTarget, SplitsThePathFromTheQuery) {
  HttpTarget root = parse_http_target("/");
  EXPECT_EQ(root.path, "/");
  EXPECT_TRUE(root.query.empty());

  EXPECT_EQ(parse_http_target("").path, "");
  EXPECT_EQ(parse_http_target("/jobs/job-1/events").path, "/jobs/job-1/events");

  HttpTarget with_query = parse_http_target("/jobs/abc?wait=true&timeout=5");
  EXPECT_EQ(with_query.path, "/jobs/abc");
  EXPECT_EQ(with_query.query, (Query{{"wait", "true"}, {"timeout", "5"}}));

  // Only the first '?' splits; later ones belong to the query.
  HttpTarget two = parse_http_target("/a?b=c?d");
  EXPECT_EQ(two.path, "/a");
  EXPECT_EQ(two.query, (Query{{"b", "c?d"}}));

  HttpTarget bare = parse_http_target("/a?");
  EXPECT_EQ(bare.path, "/a");
  EXPECT_TRUE(bare.query.empty());
}

TEST(HttpTarget, DecodesPercentEscapesInThePath) {
  EXPECT_EQ(parse_http_target("/echo/a%20b%2Fc").path, "/echo/a b/c");
  EXPECT_EQ(parse_http_target("/x%2f%2F%41%61").path, "/x//Aa");  // either case of hex digit
  EXPECT_EQ(parse_http_target("/J%C3%BCrgen").path, "/J\xC3\xBCrgen");
  EXPECT_EQ(parse_http_target("/%25").path, "/%");
  EXPECT_EQ(parse_http_target("/%3F?x=1").path, "/?");  // an escaped '?' does not split
  // %00 decodes to a NUL byte inside the path; routes compare it as bytes and never match it.
  EXPECT_EQ(parse_http_target("/a%00b").path, std::string("/a\0b", 4));
  EXPECT_EQ(parse_http_target("/%FF").path, "/\xFF");
}

TEST(HttpTarget, PlusIsASpaceInTheQueryOnly) {
  HttpTarget target = parse_http_target("/a+b?name=J%C3%BCrgen+M&c%2Bd=e+f%2B");
  EXPECT_EQ(target.path, "/a+b");
  EXPECT_EQ(target.query, (Query{{"name", "J\xC3\xBCrgen M"}, {"c+d", "e f+"}}));
}

TEST(HttpTarget, QueryEdgeCases) {
  // Empty parts are skipped; a key without '=' and a key with '=' but no value both read "".
  EXPECT_EQ(parse_http_target("/?&&flag&&x=&y=1&").query,
            (Query{{"flag", ""}, {"x", ""}, {"y", "1"}}));
  // An empty key is kept as "".
  EXPECT_EQ(parse_http_target("/?=v").query, (Query{{"", "v"}}));
  EXPECT_EQ(parse_http_target("/?=").query, (Query{{"", ""}}));
  // Only the first '=' splits; escaped ones are data.
  EXPECT_EQ(parse_http_target("/?eq=a=b&e2=a%3Db").query, (Query{{"eq", "a=b"}, {"e2", "a=b"}}));
  // A repeated key keeps its last value.
  EXPECT_EQ(parse_http_target("/?a=1&a=2&a=3").query, (Query{{"a", "3"}}));
  EXPECT_EQ(parse_http_target("/?a=1&a").query, (Query{{"a", ""}}));
  // A fragment ends the query; an escaped '&' does not split.
  EXPECT_EQ(parse_http_target("/?a=1#b=2&c").query, (Query{{"a", "1"}}));
  EXPECT_EQ(parse_http_target("/?a=1%262").query, (Query{{"a", "1&2"}}));
  EXPECT_EQ(parse_http_target("/?%00=%00").query,
            (Query{{std::string(1, '\0'), std::string(1, '\0')}}));
}

TEST(HttpTarget, MalformedEscapesAreInvalidRequestsNamingTheTarget) {
  for (const char* bad :
       {"/echo%zz", "/echo%4", "/%", "/a%2", "/%%41", "/%G1", "/% 1", "/%4?x=1"}) {
    SCOPED_TRACE(bad);
    Error error = thrown_by([&] { parse_http_target(bad); });
    EXPECT_EQ(error.code(), ErrorCode::kInvalidRequest);
    EXPECT_EQ(error.field(), "target");
    EXPECT_STREQ(error.what(), "target: invalid percent-escape in the path");
  }
  for (const char* bad :
       {"/echo?q=%4", "/echo?%G1=x", "/?a=%", "/?a=1&b=%zz", "/?%=1", "/?x=%-1"}) {
    SCOPED_TRACE(bad);
    Error error = thrown_by([&] { parse_http_target(bad); });
    EXPECT_EQ(error.code(), ErrorCode::kInvalidRequest);
    EXPECT_EQ(error.field(), "target");
    EXPECT_STREQ(error.what(), "target: invalid percent-escape in the query");
  }
  // After the fragment nothing is decoded, so a bad escape there is harmless.
  EXPECT_EQ(parse_http_target("/?a=1#%zz").query, (Query{{"a", "1"}}));
}

}  // namespace
}  // namespace workers
