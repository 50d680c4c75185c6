#include "server/security/token_file.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gtest/gtest.h"

namespace q8::server::security {
namespace {

constexpr char kOld[] = "old-token-0123456789abcdef";
constexpr char kNew[] = "new-token-0123456789abcdef";

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("q8_token_file_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "token").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Replaces the file by rename (what editors and Kubernetes do).
  void Write(const std::string& text) {
    std::ofstream(path_ + ".tmp") << text;
    std::filesystem::rename(path_ + ".tmp", path_);
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(TokenFileTest, OpenRefusesMissingEmptyAndMalformedFiles) {
  auto missing = TokenFile::Open(path_, absl::Seconds(1));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(path_), std::string::npos);
  Write("");
  EXPECT_EQ(TokenFile::Open(path_, absl::Seconds(1)).status().code(), absl::StatusCode::kInvalidArgument);
  Write("too-short\n");
  EXPECT_EQ(TokenFile::Open(path_, absl::Seconds(1)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TokenFileTest, AcceptsEveryTokenOfTheFileAndNothingElse) {
  Write(std::string(kOld) + "\n" + kNew + "\n");
  auto file = TokenFile::Open(path_, absl::Seconds(1));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->token_count(), 2u);
  EXPECT_TRUE((*file)->Accepts(kOld));
  EXPECT_TRUE((*file)->Accepts(kNew));
  EXPECT_FALSE((*file)->Accepts("new-token-0123456789abcde"));
  EXPECT_FALSE((*file)->Accepts(""));
}

TEST_F(TokenFileTest, ChangedFileIsReadAtTheNextCheckAfterTheInterval) {
  Write(std::string(kOld) + "\n");
  auto file = TokenFile::Open(path_, absl::Seconds(1));
  ASSERT_TRUE(file.ok());
  Write(std::string(kNew) + "\n");
  EXPECT_TRUE((*file)->Accepts(kOld)) << "checked at most once per interval";
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE((*file)->Accepts(kNew));
  EXPECT_FALSE((*file)->Accepts(kOld));
}

TEST_F(TokenFileTest, InPlaceRewriteIsSeenToo) {
  Write(std::string(kOld) + "\n");
  auto file = TokenFile::Open(path_, absl::Milliseconds(50));
  ASSERT_TRUE(file.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(path_, std::ios::trunc) << kNew << "\n";  // same inode and size
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE((*file)->Accepts(kNew));
  EXPECT_FALSE((*file)->Accepts(kOld));
}

TEST_F(TokenFileTest, WithoutAnIntervalOnlyReloadReadsTheFile) {
  Write(std::string(kOld) + "\n");
  auto file = TokenFile::Open(path_, absl::ZeroDuration());
  ASSERT_TRUE(file.ok());
  Write(std::string(kNew) + "\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE((*file)->Accepts(kOld));
  EXPECT_FALSE((*file)->Accepts(kNew));
  ASSERT_TRUE((*file)->Reload().ok());
  EXPECT_TRUE((*file)->Accepts(kNew));
  EXPECT_FALSE((*file)->Accepts(kOld));
}

TEST_F(TokenFileTest, FailedReloadKeepsTheCurrentTokens) {
  Write(std::string(kOld) + "\n");
  auto file = TokenFile::Open(path_, absl::Milliseconds(50));
  ASSERT_TRUE(file.ok());
  Write("# emptied by mistake\n");
  EXPECT_EQ((*file)->Reload().code(), absl::StatusCode::kInvalidArgument);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE((*file)->Accepts(kOld));
  std::filesystem::remove(path_);
  EXPECT_EQ((*file)->Reload().code(), absl::StatusCode::kNotFound);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE((*file)->Accepts(kOld));
  // A good file later is picked up again.
  Write(std::string(kNew) + "\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE((*file)->Accepts(kNew));
}

TEST_F(TokenFileTest, ConcurrentChecksAndReloadsAgree) {
  Write(std::string(kOld) + "\n");
  auto file = TokenFile::Open(path_, absl::Milliseconds(1));
  ASSERT_TRUE(file.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) refused += (*file)->Accepts(kOld) ? 0 : 1;
    });
  }
  for (int i = 0; i < 50; ++i) {
    Write(std::string(kOld) + "\n# rewrite " + std::to_string(i) + "\n");
    (void)(*file)->Reload();
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(refused.load(), 0);
}

}  // namespace
}  // namespace q8::server::security
