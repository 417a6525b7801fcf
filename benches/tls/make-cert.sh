#!/usr/bin/env bash
# A throwaway ECDSA P-256 certificate for `localhost` (and 127.0.0.1), for
# benches/proxy-tls.toml: cert.pem and key.pem beside this script. Nothing
# trusts it; it is not committed (.gitignore).
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout key.pem -out cert.pem 2>/dev/null
echo "wrote $(pwd)/cert.pem and key.pem"
