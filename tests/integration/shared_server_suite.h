// SharedServerSuite: one real q8serve process shared by every test of a gtest
// suite. Started once in SetUpTestSuite on a fresh temp repository, then
// `Derived::PrepareServer` loads the suite's models (`Derived::ServerFlags()`,
// if it declares one, adds q8serve flags); stopped with SIGTERM in
// TearDownTestSuite, asserting a clean exit. A failing test prints the
// server's log.
#pragma once

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/oip_helpers.h"
#include "tests/integration/server_process.h"

namespace q8::testing {

template <typename Derived>
class SharedServerSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new std::string(MakeTempDir(Derived::kRepoPrefix));
    server_ = new ServerProcess();
    ASSERT_TRUE(server_->Start(*repo_, Derived::ServerFlags()));
    Derived::PrepareServer(*server_);
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(), 0) << server_->Log();
      delete server_;
    }
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(server_->running());
    stub_ = server_->Stub();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << server_->Log();
  }

  static std::vector<std::string> ServerFlags() { return {}; }

  static inline std::string* repo_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  std::unique_ptr<Stub> stub_;
};

}  // namespace q8::testing
