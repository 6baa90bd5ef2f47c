/* edgec_crypto.h over libsodium (crypto_hash_sha256, crypto_sign_ed25519_verify_detached).
 * Compile with compiler/crypto_source.py's include directory and defines, and link its objects. */
#include <string.h>
#include "crypto_hash_sha256.h"
#include "crypto_sign_ed25519.h"
#include "utils.h"
#include "edgec_crypto.h"

/* The opaque context must hold libsodium's state (a negative array size stops the build if not). */
typedef char edgec_sha256_ctx_fits[sizeof(crypto_hash_sha256_state) <= sizeof(edgec_sha256_ctx) ? 1 : -1];

/* The state is copied in and out, so no object is ever read through a type it was not stored as. */
int edgec_sha256_init(edgec_sha256_ctx *ctx)
{
    crypto_hash_sha256_state st;
    if (crypto_hash_sha256_init(&st) != 0)
        return -1;
    memcpy(ctx->opaque, &st, sizeof st);
    return 0;
}

int edgec_sha256_update(edgec_sha256_ctx *ctx, const uint8_t *msg, uint32_t len)
{
    crypto_hash_sha256_state st;
    int r;
    memcpy(&st, ctx->opaque, sizeof st);
    r = crypto_hash_sha256_update(&st, msg, (unsigned long long)len);
    memcpy(ctx->opaque, &st, sizeof st);
    return r == 0 ? 0 : -1;
}

int edgec_sha256_final(edgec_sha256_ctx *ctx, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    int r;
    memcpy(&st, ctx->opaque, sizeof st);
    r = crypto_hash_sha256_final(&st, out);
    sodium_memzero(ctx->opaque, sizeof ctx->opaque);
    return r == 0 ? 0 : -1;
}

int edgec_sha256(uint8_t out[32], const uint8_t *msg, uint32_t len)
{
    return crypto_hash_sha256(out, msg, (unsigned long long)len) == 0 ? 0 : -1;
}

int edgec_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, uint32_t len, const uint8_t pk[32])
{
    return crypto_sign_ed25519_verify_detached(sig, msg, (unsigned long long)len, pk) == 0 ? 0 : -1;
}

/* libsodium's utils.c needs an operating system (mmap, a random source); the verify path calls
 * only these three of its helpers, written here as utils.c writes its portable fallbacks.  They are
 * not cryptography: a wipe, and comparisons whose running time does not depend on the bytes. */
#ifndef EDGEC_CRYPTO_HAVE_SODIUM_UTILS
void sodium_memzero(void *const pnt, const size_t len)
{
    volatile unsigned char *volatile p = (volatile unsigned char *volatile)pnt;
    size_t i;
    for (i = 0u; i < len; i++)
        p[i] = 0u;
}

int sodium_memcmp(const void *const b1_, const void *const b2_, size_t len)
{
    const volatile unsigned char *volatile b1 = (const volatile unsigned char *volatile)b1_;
    const volatile unsigned char *volatile b2 = (const volatile unsigned char *volatile)b2_;
    size_t i;
    volatile unsigned int d = 0u;
    for (i = 0u; i < len; i++)
        d |= (unsigned int)(b1[i] ^ b2[i]);
    return (int)(1u & ((d - 1u) >> 8)) - 1;
}

int sodium_is_zero(const unsigned char *n, const size_t nlen)
{
    size_t i;
    volatile unsigned int d = 0u;
    for (i = 0u; i < nlen; i++)
        d |= n[i];
    return (int)(1u & ((d - 1u) >> 8));
}
#endif
