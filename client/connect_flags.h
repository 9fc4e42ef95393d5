#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "client/client.h"

namespace jobq::client {

// The connection flags of jobqctl and jobq-bench: --tls-ca, --tls-cert,
// --tls-key and --tls-server-name, defaulting to the JOBQ_TLS_* variables,
// and --token-file (else $JOBQ_TOKEN; see ResolveToken).
inline void AddConnectFlags(CLI::App& app, TlsOptions* tls,
                            std::string* token_file) {
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
  app.add_option("--token-file", *token_file,
                 "file whose first line is the bearer token to send "
                 "(default: env JOBQ_TOKEN)");
}

}  // namespace jobq::client
