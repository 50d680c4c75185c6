#include "server/security/credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/logging.h"
#include "grpcpp/security/credentials.h"
#include "server/model_repository.h"

namespace q8::server::security {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;

Bio MemoryBio(const std::string& bytes) { return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))); }

// Never prompt for a passphrase on the terminal: encrypted keys are refused.
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* flag) {
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return absl::Status(bytes.status().code(), absl::StrCat("--", flag, ": ", bytes.status().message()));
  if (bytes->empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", path, "' is empty"));
  return bytes;
}

// The certificates of a PEM text, in order; at least one.
absl::StatusOr<std::vector<Cert>> ParseCerts(const std::string& pem, const std::string& path, const char* flag) {
  std::vector<Cert> certs;
  Bio bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) certs.emplace_back(cert);
  ERR_clear_error();  // the read that ends the loop reports "no start line"
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", path, "' holds no PEM certificate"));
  }
  return certs;
}

absl::Status CheckKeyMatches(const std::string& key_pem, const TlsFiles& tls, X509* cert) {
  Bio bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key_file: '", tls.key_file, "' holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls_key_file '", tls.key_file,
                                                   "' is not the key of the certificate in --tls_cert_file '",
                                                   tls.cert_file, "'"));
  }
  return absl::OkStatus();
}

void WarnIfExpired(X509* cert, const std::string& path) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    Q8_LOG(Warning, "the certificate in '", path, "' has expired: clients will refuse it");
  }
}

// The name a client should verify: the first DNS subjectAltName, else the
// common name, else "".
std::string CertificateName(X509* cert) {
  std::string name;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && name.empty(); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type != GEN_DNS) continue;
      name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                  static_cast<size_t>(ASN1_STRING_length(n->d.dNSName)));
    }
    GENERAL_NAMES_free(names);
  }
  if (name.empty()) {
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) name = cn;
  }
  return name;
}

struct ServerPem {
  std::string cert, key, client_ca;
  std::string name;  // CertificateName of the leaf
};

absl::StatusOr<ServerPem> LoadServerPem(const TlsFiles& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert_file and --tls_key_file (--tls_client_ca_file adds mutual TLS on top)");
  }
  ServerPem pem;
  auto cert = ReadPem(tls.cert_file, "tls_cert_file");
  if (!cert.ok()) return cert.status();
  pem.cert = *std::move(cert);
  auto key = ReadPem(tls.key_file, "tls_key_file");
  if (!key.ok()) return key.status();
  pem.key = *std::move(key);
  auto chain = ParseCerts(pem.cert, tls.cert_file, "tls_cert_file");
  if (!chain.ok()) return chain.status();
  if (absl::Status s = CheckKeyMatches(pem.key, tls, chain->front().get()); !s.ok()) return s;
  WarnIfExpired(chain->front().get(), tls.cert_file);
  pem.name = CertificateName(chain->front().get());
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPem(tls.client_ca_file, "tls_client_ca_file");
    if (!ca.ok()) return ca.status();
    pem.client_ca = *std::move(ca);
    auto roots = ParseCerts(pem.client_ca, tls.client_ca_file, "tls_client_ca_file");
    if (!roots.ok()) return roots.status();
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const TlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  absl::StatusOr<ServerPem> pem = LoadServerPem(tls);
  if (!pem.ok()) return pem.status();
  const bool mutual = !pem->client_ca.empty();
  grpc::SslServerCredentialsOptions options(mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({pem->key, pem->cert});
  options.pem_root_certs = pem->client_ca;
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<ProbeChannel> ProbeChannelFor(const TlsFiles& tls, const std::string& ca_file) {
  if (!tls.enabled()) return ProbeChannel{grpc::InsecureChannelCredentials(), ""};
  absl::StatusOr<ServerPem> pem = LoadServerPem(tls);
  if (!pem.ok()) return pem.status();
  grpc::SslCredentialsOptions options;
  if (ca_file.empty()) {
    options.pem_root_certs = pem->cert;
  } else {
    auto roots = ReadPem(ca_file, "health_probe_ca_file");
    if (!roots.ok()) return roots.status();
    options.pem_root_certs = *std::move(roots);
  }
  if (!pem->client_ca.empty()) {
    options.pem_private_key = pem->key;
    options.pem_cert_chain = pem->cert;
  }
  return ProbeChannel{grpc::SslCredentials(options), pem->name};
}

}  // namespace q8::server::security
