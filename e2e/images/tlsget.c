/*
 * tlsget: one HTTPS request from inside a pod, verifying the server as in-cluster config does (the CA file, the IP
 * address dialled in the certificate), with an optional bearer token from a file. Prints the response as received.
 * busybox's wget does not verify certificates, so the e2e case of ADR 0011 step 3 needs this. Built static
 * (gcc -static ... -lssl -lcrypto), so a busybox root filesystem runs it.
 *
 *   tlsget <ip> <port> <method> <path> <ca file> [<token file> [<body>]]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  static char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: tlsget <ip> <port> <method> <path> <ca file> [<token file> [<body>]]\n");
    return 2;
  }
  const char *ip = argv[1], *method = argv[3], *path = argv[4], *ca = argv[5];
  const char *token = argc > 6 ? slurp(argv[6]) : NULL;
  const char *body = argc > 7 ? argv[7] : "";
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) return 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    perror("tlsget: connect");
    return 1;
  }
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
    fprintf(stderr, "tlsget: cannot read CA file %s\n", ca);
    return 1;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), ip);
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) {
    fprintf(stderr, "tlsget: TLS handshake failed: %s\n",
            X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    return 1;
  }
  char req[12288];
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\nAccept: application/json\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n%s%s%s\r\n%s",
                   method, path, ip, argv[2], strlen(body), token ? "Authorization: Bearer " : "",
                   token ? token : "", token ? "\r\n" : "", body);
  // snprintf returns the length the request would have had: past the buffer it was cut short, and writing n bytes
  // would send whatever lies beyond req. Refuse instead, naming the limit.
  if (n < 0 || (size_t)n >= sizeof req) {
    fprintf(stderr, "tlsget: request (method, path, token and body) is longer than %zu bytes\n", sizeof req - 1);
    return 1;
  }
  if (SSL_write(ssl, req, n) != n) {
    fprintf(stderr, "tlsget: sending the request failed\n");
    return 1;
  }
  char buf[4096];
  int r;
  while ((r = SSL_read(ssl, buf, sizeof buf)) > 0) fwrite(buf, 1, r, stdout);
  return 0;
}
