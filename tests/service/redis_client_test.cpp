// RedisClient against a real redis-server (tests/service/redis_server.h): URL parsing, replies of
// every type, error replies, unreachable servers, reconnects, AUTH and SELECT.
#include "service/redis_client.h"

#include <gtest/gtest.h>

#include <string>

#include "service/redis_server.h"
#include "service/thrown_by.h"

namespace workers {
namespace {

using testing_support::RedisServer;
using testing_support::RedisServerOptions;
using testing_support::thrown_by;

const std::string kField = "workers.instructors.communication.redis.url";

TEST(RedisClientUrl, ParsesTcpAndUnixUrls) {
  RedisUrl plain = parse_redis_url("redis://localhost");
  EXPECT_EQ(plain.host, "localhost");
  EXPECT_EQ(plain.port, 6379);
  EXPECT_EQ(plain.db, 0);
  EXPECT_TRUE(plain.unix_path.empty());
  EXPECT_TRUE(plain.password.empty());
  EXPECT_EQ(plain.text, "redis://localhost:6379/0");

  RedisUrl full = parse_redis_url("redis://:s3cr%40t@10.0.0.1:6380/2");
  EXPECT_EQ(full.host, "10.0.0.1");
  EXPECT_EQ(full.port, 6380);
  EXPECT_EQ(full.db, 2);
  EXPECT_EQ(full.password, "s3cr@t");
  EXPECT_EQ(full.text, "redis://:***@10.0.0.1:6380/2");

  RedisUrl ipv6 = parse_redis_url("redis://[::1]:7000/1");
  EXPECT_EQ(ipv6.host, "::1");
  EXPECT_EQ(ipv6.port, 7000);
  EXPECT_EQ(ipv6.db, 1);

  RedisUrl socket = parse_redis_url("unix:///run/redis/redis.sock?db=3");
  EXPECT_TRUE(socket.host.empty());
  EXPECT_EQ(socket.unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(socket.db, 3);
  EXPECT_EQ(socket.text, "unix:///run/redis/redis.sock?db=3");

  RedisUrl secret = parse_redis_url("unix:///r.sock?password=pw&db=1");
  EXPECT_EQ(secret.password, "pw");
  EXPECT_EQ(secret.db, 1);
  EXPECT_EQ(secret.text, "unix:///r.sock?db=1&password=***");

  // The text is rebuilt from the parsed parts: no spelling carries the password into a log
  // (fuzz_service_inputs found repeated parameters doing so).
  for (const std::string url : {"unix:///r.sock?password=hunter2&password=hunter2",
                                "unix:///hunter2.sock?password=hunter2", "redis://:hunter2@h:1/0"}) {
    const RedisUrl parsed = parse_redis_url(url);
    EXPECT_EQ(parsed.text.find("hunter2", parsed.text.find("sock") + 1), std::string::npos) << parsed.text;
  }
  const std::string message = thrown_by([] { parse_redis_url("redis://:hun/ter2@host"); }).what();
  EXPECT_EQ(message.find("hun"), std::string::npos) << message;
}

TEST(RedisClientUrl, RejectsBadUrlsNamingTheField) {
  for (const std::string url :
       {"", "http://localhost", "localhost:6379", "redis://", "redis://:pw@", "redis://host:0",
        "redis://host:65536", "redis://host:abc", "redis://host:", "redis://host/x",
        "redis://host/-1", "redis://user:pw@host", "redis://[::1", "rediss://host",
        "unix://relative.sock", "unix://", "unix:///r.sock?db=x", "unix:///r.sock?timeout=1"}) {
    SCOPED_TRACE(url);
    Error error = thrown_by([&] { parse_redis_url(url, kField); });
    EXPECT_EQ(error.code(), ErrorCode::kConfigError);
    EXPECT_EQ(error.field(), kField);
    EXPECT_EQ(std::string(error.what()).rfind(kField + ": ", 0), 0u) << error.what();
  }
  EXPECT_EQ(thrown_by([] { parse_redis_url("redis://h:1/x"); }).field(), "redis");
}

class RedisClientTest : public ::testing::Test {
 protected:
  RedisServer server_;
};

TEST_F(RedisClientTest, RoundTripsBinarySafeValuesAndEveryReplyType) {
  RedisClient client(parse_redis_url(server_.url()));
  const std::string value("a\0b\xff\r\nc", 7);
  RedisReply set = client.command({"SET", std::string("k\0ey", 4), value});
  EXPECT_EQ(set.type, RedisReply::Type::kStatus);
  EXPECT_EQ(set.str(), "OK");
  RedisReply got = client.command({"GET", std::string("k\0ey", 4)});
  EXPECT_EQ(got.type, RedisReply::Type::kString);
  EXPECT_EQ(got.text, value);
  EXPECT_EQ(got.text.size(), 7u);

  RedisReply missing = client.command({"GET", "key"});
  EXPECT_TRUE(missing.is_nil());
  EXPECT_EQ(missing.str(), "");

  RedisReply count = client.command({"INCRBY", "n", "41"});
  EXPECT_EQ(count.type, RedisReply::Type::kInteger);
  EXPECT_EQ(count.integer, 41);
  EXPECT_EQ(count.str(), "41");

  client.command({"RPUSH", "list", "x", "", "z"});
  RedisReply list = client.command({"LRANGE", "list", "0", "-1"});
  ASSERT_EQ(list.type, RedisReply::Type::kArray);
  ASSERT_EQ(list.elements.size(), 3u);
  EXPECT_EQ(list.elements[0].str(), "x");
  EXPECT_EQ(list.elements[1].type, RedisReply::Type::kString);
  EXPECT_EQ(list.elements[1].str(), "");
  EXPECT_EQ(list.elements[2].str(), "z");
}

TEST_F(RedisClientTest, ErrorRepliesThrowFromCommandAndComeBackFromTryCommand) {
  RedisClient client(parse_redis_url(server_.url()));
  Error unknown = thrown_by([&] { client.command({"NOSUCHCOMMAND", "x"}); });
  EXPECT_EQ(unknown.code(), ErrorCode::kInternalError);
  EXPECT_NE(std::string(unknown.what()).find("redis: ERR unknown command"), std::string::npos)
      << unknown.what();
  EXPECT_NE(std::string(unknown.what()).find("(NOSUCHCOMMAND)"), std::string::npos)
      << unknown.what();

  client.command({"SET", "s", "text"});
  RedisReply wrong = client.try_command({"LPUSH", "s", "x"});
  EXPECT_TRUE(wrong.is_error());
  EXPECT_EQ(wrong.text.rfind("WRONGTYPE", 0), 0u) << wrong.text;
  // The connection is still good after an error reply.
  EXPECT_EQ(client.command({"PING"}).str(), "PONG");
}

TEST_F(RedisClientTest, UnreachableServerIsWorkerUnavailableNamingTheUrl) {
  const std::string socket = "unix://" + server_.dir() + "/missing.sock";
  Error no_socket = thrown_by([&] { RedisClient client(parse_redis_url(socket), 0.5); });
  EXPECT_EQ(no_socket.code(), ErrorCode::kWorkerUnavailable);
  EXPECT_NE(std::string(no_socket.what()).find("redis at " + socket + ": "), std::string::npos)
      << no_socket.what();

  RedisServer tcp(RedisServerOptions{true, ""});
  const std::string url = tcp.url();
  tcp.stop();  // the port is free again: nothing listens
  Error refused = thrown_by([&] { RedisClient client(parse_redis_url(url), 0.5); });
  EXPECT_EQ(refused.code(), ErrorCode::kWorkerUnavailable);
  EXPECT_NE(std::string(refused.what()).find("redis at " + url), std::string::npos)
      << refused.what();
}

TEST_F(RedisClientTest, ReconnectsAfterTheServerRestarts) {
  RedisClient client(parse_redis_url(server_.url()), 1.0);
  EXPECT_EQ(client.command({"PING"}).str(), "PONG");

  server_.stop();
  Error down = thrown_by([&] { client.command({"PING"}); });
  EXPECT_EQ(down.code(), ErrorCode::kWorkerUnavailable);
  EXPECT_NE(std::string(down.what()).find(server_.url()), std::string::npos) << down.what();

  server_.start();  // same socket, fresh process
  EXPECT_EQ(client.command({"SET", "after", "restart"}).str(), "OK");
  EXPECT_EQ(client.command({"GET", "after"}).str(), "restart");

  // A dropped connection (not an unreachable server) costs nothing: one reconnect, one retry.
  RedisClient admin(parse_redis_url(server_.url()));
  admin.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  EXPECT_EQ(client.command({"GET", "after"}).str(), "restart");
}

TEST(RedisClientAuth, AuthenticatesAndSelectsTheDatabaseOverTcp) {
  RedisServer server(RedisServerOptions{true, "pa55"});
  const std::string base = "redis://:pa55@127.0.0.1:" + std::to_string(server.port());
  RedisClient db0(parse_redis_url(base + "/0"));
  RedisClient db1(parse_redis_url(base + "/1"));
  db1.command({"SET", "where", "db1"});
  EXPECT_TRUE(db0.command({"GET", "where"}).is_nil());
  EXPECT_EQ(db1.command({"GET", "where"}).str(), "db1");

  const std::string wrong = "redis://:nope@127.0.0.1:" + std::to_string(server.port()) + "/0";
  Error refused = thrown_by([&] { RedisClient client(parse_redis_url(wrong)); });
  EXPECT_EQ(refused.code(), ErrorCode::kWorkerUnavailable);
  std::string message = refused.what();
  EXPECT_NE(message.find("redis://:***@127.0.0.1"), std::string::npos) << message;
  EXPECT_EQ(message.find("nope"), std::string::npos) << message;

  // The unix socket of the same server, password in the query.
  RedisClient socket(parse_redis_url("unix://" + server.socket_path() + "?password=pa55&db=1"));
  EXPECT_EQ(socket.command({"GET", "where"}).str(), "db1");
}

}  // namespace
}  // namespace workers
