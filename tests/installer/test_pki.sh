# Sourced by the installer checks: the certificates an administrator would put in place.
#
# issue_test_pki TLS_DIR CLIENT_DIR
#   TLS_DIR/mdm-ca.pem               a CA for the test (its key: CLIENT_DIR/ca.key)
#   TLS_DIR/server.pem, server.key   the agent's certificate, for localhost and 127.0.0.1
#   CLIENT_DIR/admin.pem, admin.key  the MDM's client certificate, CN=ci-admin
# EC P-256, valid for two days.
issue_test_pki() {
  local tls=$1 client=$2
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ci-ca" \
    -keyout "$client/ca.key" -out "$tls/mdm-ca.pem" 2>/dev/null
  _issue_test_certificate "$tls" "$client" server /CN=localhost \
    "subjectAltName=DNS:localhost,IP:127.0.0.1" "$tls/server.key" "$tls/server.pem"
  _issue_test_certificate "$tls" "$client" admin /CN=ci-admin "extendedKeyUsage=clientAuth" \
    "$client/admin.key" "$client/admin.pem"
}

_issue_test_certificate() { # TLS_DIR CLIENT_DIR NAME SUBJECT EXTENSIONS KEY CERT
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$4" \
    -keyout "$6" -out "$2/$3.csr" 2>/dev/null
  openssl x509 -req -in "$2/$3.csr" -CA "$1/mdm-ca.pem" -CAkey "$2/ca.key" \
    -CAserial "$2/ca.srl" -CAcreateserial -days 2 -extfile <(printf '%s\n' "$5") -out "$7" 2>/dev/null
}
