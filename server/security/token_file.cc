#include "server/security/token_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/bearer_token.h"
#include "core/logging.h"
#include "server/model_repository.h"

namespace q8::server::security {
namespace {

int64_t Nanos(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

}  // namespace

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Open(std::string path, absl::Duration check_interval) {
  std::unique_ptr<TokenFile> file(new TokenFile(std::move(path), check_interval));
  if (absl::Status s = file->Load(/*only_if_changed=*/false); !s.ok()) return s;
  file->next_check_ns_.store(absl::GetCurrentTimeNanos() + absl::ToInt64Nanoseconds(check_interval));
  return file;
}

absl::Status TokenFile::Load(bool only_if_changed) {
  absl::MutexLock lock(&load_mu_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    const int err = errno;
    const std::string why = absl::StrCat("token file '", path_, "': ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
  }
  const Identity now{st.st_dev, st.st_ino, st.st_size, Nanos(st.st_mtim), Nanos(st.st_ctim)};
  if (only_if_changed && now == identity_) return absl::OkStatus();
  // Remember even a bad version, so a broken file is reported once, not on
  // every check.
  identity_ = now;
  constexpr off_t kMaxTokenFileBytes = off_t{1} << 20;
  if (st.st_size > kMaxTokenFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path_, "' is larger than 1 MiB"));
  }
  absl::StatusOr<std::string> contents = ReadFile(path_);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(), absl::StrCat("token file: ", contents.status().message()));
  }
  absl::StatusOr<std::vector<std::string>> tokens = core::ParseTokenFile(*contents);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("token file '", path_, "': ", tokens.status().message()));
  }
  const size_t count = tokens->size();
  {
    absl::MutexLock tokens_lock(&mu_);
    tokens_ = std::make_shared<const std::vector<std::string>>(*std::move(tokens));
  }
  Q8_LOG(Info, "token file '", path_, "' loaded (", count, count == 1 ? " token)" : " tokens)");
  return absl::OkStatus();
}

void TokenFile::MaybeReload() {
  if (interval_ <= absl::ZeroDuration()) return;
  const int64_t now = absl::GetCurrentTimeNanos();
  int64_t due = next_check_ns_.load(std::memory_order_relaxed);
  if (now < due) return;
  // One request per interval does the stat; the others go on with the current
  // tokens.
  if (!next_check_ns_.compare_exchange_strong(due, now + absl::ToInt64Nanoseconds(interval_))) return;
  if (absl::Status s = Load(/*only_if_changed=*/true); !s.ok()) {
    Q8_LOG(Warning, "keeping the previous tokens: ", s.message());
  }
}

absl::Status TokenFile::Reload() {
  absl::Status s = Load(/*only_if_changed=*/false);
  if (!s.ok()) Q8_LOG(Warning, "keeping the previous tokens: ", s.message());
  return s;
}

bool TokenFile::Accepts(absl::string_view token) {
  MaybeReload();
  std::shared_ptr<const std::vector<std::string>> tokens;
  {
    absl::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  bool match = false;
  for (const std::string& t : *tokens) match = core::ConstantTimeEquals(t, token) || match;
  return match;
}

size_t TokenFile::token_count() const {
  absl::MutexLock lock(&mu_);
  return tokens_ == nullptr ? 0 : tokens_->size();
}

}  // namespace q8::server::security
