#include "tests/integration/prometheus_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/server_process.h"

namespace q8::testing {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void SleepSeconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

int HttpGet(int port, const std::string& path_and_query, std::string* body, double timeout_seconds) {
  body->clear();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return 0;
  }
  const std::string request = "GET " + path_and_query + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return 0;
  }
  // HTTP/1.0: the server closes the connection after the response.
  std::string response;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
  char buf[65536];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t header_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/", 0) != 0 || header_end == std::string::npos) return 0;
  *body = response.substr(header_end + 4);
  const size_t sp = response.find(' ');
  return std::atoi(response.c_str() + sp + 1);
}

PrometheusServer::~PrometheusServer() { Stop(); }

::testing::AssertionResult PrometheusServer::Start(const std::vector<int>& target_ports,
                                                   const std::vector<std::string>& rule_files,
                                                   double timeout_seconds) {
  dir_ = MakeTempDir("prometheus");
  std::ostringstream config;
  config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n";
  if (!rule_files.empty()) {
    config << "rule_files:\n";
    for (const auto& f : rule_files) config << "  - " << f << "\n";
  }
  config << "scrape_configs:\n  - job_name: q8serve\n    metrics_path: /metrics\n    static_configs:\n"
         << "      - targets: [";
  for (size_t i = 0; i < target_ports.size(); ++i) {
    config << (i ? ", " : "") << "'127.0.0.1:" << target_ports[i] << "'";
  }
  config << "]\n";
  std::ofstream(dir_ + "/prometheus.yml") << config.str();

  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = PickFreePort();
    std::vector<std::string> args = {kPrometheusBinary, "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
    pid_ = Spawn(args, dir_ + "/prometheus.log");
    if (pid_ < 0) return ::testing::AssertionFailure() << "fork failed";
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_seconds);
    while (Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;  // died (port taken?): retry
      }
      std::string body;
      if (HttpGet(port_, "/-/ready", &body, 1) == 200) return ::testing::AssertionSuccess();
      SleepSeconds(0.1);
    }
    if (pid_ > 0) return ::testing::AssertionFailure() << "prometheus not ready\n" << Log();
  }
  return ::testing::AssertionFailure() << "prometheus failed to start\n" << Log();
}

void PrometheusServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    SleepSeconds(0.05);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string PrometheusServer::Log() const {
  std::ifstream in(dir_ + "/prometheus.log");
  std::stringstream ss;
  ss << "---- prometheus log ----\n" << in.rdbuf();
  return ss.str();
}

std::optional<nlohmann::json> PrometheusServer::Api(const std::string& endpoint_and_query) const {
  std::string body;
  HttpGet(port_, "/api/v1/" + endpoint_and_query, &body);
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

std::optional<nlohmann::json> PrometheusServer::Query(const std::string& expr, std::string* error) const {
  auto json = Api("query?query=" + UrlEncode(expr));
  if (!json) {
    if (error != nullptr) *error = "no JSON answer";
    return std::nullopt;
  }
  if (json->value("status", "") != "success") {
    if (error != nullptr) *error = json->value("errorType", "") + ": " + json->value("error", "");
    return std::nullopt;
  }
  return (*json)["data"];
}

std::optional<double> PrometheusServer::Scalar(const std::string& expr) const {
  auto data = Query(expr);
  if (!data) return std::nullopt;
  const auto& result = (*data)["result"];
  if ((*data)["resultType"] == "scalar") return std::strtod(result[1].get<std::string>().c_str(), nullptr);
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::strtod(result[0]["value"][1].get<std::string>().c_str(), nullptr);
}

}  // namespace q8::testing
