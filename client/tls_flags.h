#pragma once

#include <CLI/CLI.hpp>

#include "client/client.h"

namespace jobq::client {

// The TLS flags of jobqctl and jobq-bench: --tls-ca, --tls-cert, --tls-key
// and --tls-server-name, defaulting to the JOBQ_TLS_* variables.
inline void AddTlsFlags(CLI::App& app, TlsOptions* tls) {
  *tls = TlsOptions::FromEnvironment();
  app.add_option("--tls-ca", tls->ca_file,
                 "PEM CA of jobqd's certificate: connect over TLS "
                 "(env JOBQ_TLS_CA)");
  app.add_option("--tls-cert", tls->cert_file,
                 "PEM client certificate, for mutual TLS (env JOBQ_TLS_CERT)");
  app.add_option("--tls-key", tls->key_file,
                 "PEM key of --tls-cert (env JOBQ_TLS_KEY)");
  app.add_option("--tls-server-name", tls->server_name,
                 "name to check jobqd's certificate against "
                 "(env JOBQ_TLS_SERVER_NAME)");
}

}  // namespace jobq::client
