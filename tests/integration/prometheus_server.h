// PrometheusServer: Debian's real `prometheus` binary as a child process for
// integration tests, on a free loopback port with a temporary config
// (scrape and rule evaluation every second) and storage directory; its HTTP
// API through a minimal HTTP/1.0 client (no client library needed).
//
// Not thread-safe; one PrometheusServer per child. The destructor stops a
// child that is still running.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace q8::testing {

inline constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";

// GET http://127.0.0.1:port/path_and_query over HTTP/1.0. Returns the status
// code (0 if the connection failed) and fills `body`.
int HttpGet(int port, const std::string& path_and_query, std::string* body, double timeout_seconds = 10);
std::string UrlEncode(const std::string& s);

class PrometheusServer {
 public:
  PrometheusServer() = default;
  PrometheusServer(const PrometheusServer&) = delete;
  ~PrometheusServer();

  // Scrapes http://127.0.0.1:<port>/metrics of every target every second
  // and evaluates `rule_files` (absolute paths) every second. Waits for
  // /-/ready.
  ::testing::AssertionResult Start(const std::vector<int>& target_ports, const std::vector<std::string>& rule_files,
                                   double timeout_seconds = 60);
  void Stop();

  // GET /api/v1/<endpoint>; the parsed JSON answer (status "success" or
  // "error"), or nullopt when Prometheus did not answer with JSON.
  std::optional<nlohmann::json> Api(const std::string& endpoint_and_query) const;
  // Instant query: the "data" object ({"resultType", "result"}) on success;
  // on failure nullopt and *error says why.
  std::optional<nlohmann::json> Query(const std::string& expr, std::string* error = nullptr) const;
  // Instant query expected to return exactly one series: its value.
  std::optional<double> Scalar(const std::string& expr) const;
  // Polls Scalar(expr) until `pred` holds (up to timeout); the last value.
  template <typename Pred>
  std::optional<double> WaitFor(const std::string& expr, Pred pred, double timeout_seconds = 30) const;

  int port() const { return port_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

void SleepSeconds(double s);

template <typename Pred>
std::optional<double> PrometheusServer::WaitFor(const std::string& expr, Pred pred, double timeout_seconds) const {
  std::optional<double> v;
  for (double waited = 0; waited < timeout_seconds; waited += 0.25) {
    v = Scalar(expr);
    if (pred(v)) return v;
    SleepSeconds(0.25);
  }
  return v;
}

}  // namespace q8::testing
