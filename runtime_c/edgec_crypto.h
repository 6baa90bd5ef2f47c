/* SHA-256 and Ed25519 signature verification for firmware, by libsodium (its portable C, fetched and
 * pinned by compiler/crypto_source.py; never hand-written crypto).  This header needs none of
 * libsodium's: the hash state is opaque storage that edgec_crypto.c checks is large enough.
 * Integer-only, no malloc; every function returns 0 on success and -1 otherwise. */
#ifndef EDGEC_CRYPTO_H
#define EDGEC_CRYPTO_H
#include <stdint.h>

#define EDGEC_SHA256_BYTES 32u
#define EDGEC_ED25519_SIG_BYTES 64u
#define EDGEC_ED25519_PK_BYTES 32u

/* libsodium's crypto_hash_sha256_state (8 words, a 64-bit count, a 64-byte block) as plain bytes. */
typedef struct { uint8_t opaque[104]; } edgec_sha256_ctx;

int edgec_sha256_init(edgec_sha256_ctx *ctx);
int edgec_sha256_update(edgec_sha256_ctx *ctx, const uint8_t *msg, uint32_t len);
int edgec_sha256_final(edgec_sha256_ctx *ctx, uint8_t out[32]);
int edgec_sha256(uint8_t out[32], const uint8_t *msg, uint32_t len);

/* 0 when sig is pk's Ed25519 signature of msg (RFC 8032, libsodium's strict checks: S must be
 * reduced, R and the key canonical and not of small order), else -1. */
int edgec_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, uint32_t len, const uint8_t pk[32]);

#endif
