#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protocol/certificate_names.h"

namespace easgate::protocol {
namespace {

using NamePtr = std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)>;

// A name of the entries given, in the order a certificate's DER holds them (most general first).
NamePtr nameOf(const std::vector<std::pair<const char*, std::string>>& entries) {
  NamePtr name(X509_NAME_new(), &X509_NAME_free);
  for (const auto& [field, value] : entries) {
    X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0);
  }
  return name;
}

// The configuration's roles name client certificates by this text, so it must be the one an
// administrator copies from `openssl x509 -subject -nameopt RFC2253` (UTF-8 kept).
TEST(CertificateNames, AreWrittenAsRfc2253MostSpecificFirst) {
  EXPECT_EQ(distinguishedName(nameOf({{"O", "Contoso"}, {"CN", "easgate-admin"}}).get()),
            "CN=easgate-admin,O=Contoso");
}

TEST(CertificateNames, KeepLettersBeyondAsciiAndEscapeTheSeparators) {
  EXPECT_EQ(distinguishedName(nameOf({{"O", "Contoso, Ltd"}, {"CN", "Zoë Ünal"}}).get()),
            "CN=Zoë Ünal,O=Contoso\\, Ltd");
}

TEST(CertificateNames, ANullNameIsSaidToBeNone) { EXPECT_EQ(distinguishedName(nullptr), "(none)"); }

}  // namespace
}  // namespace easgate::protocol
