#include "protocol/certificate_names.h"

#include <openssl/bio.h>
#include <openssl/x509.h>

#include <memory>

namespace easgate::protocol {

std::string distinguishedName(const X509_NAME* name) {
  if (name == nullptr) return "(none)";
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio) return std::string();  // no memory for it
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

}  // namespace easgate::protocol
