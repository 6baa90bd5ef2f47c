/* Known-answer driver for runtime_c/edgec_crypto.c: reads cases, writes answers (tests/test_crypto.py).
 * A case: kind (1 byte), message length (u32 LE), then
 *   kind 1: the message                          -> sha256 (32 bytes), one call
 *   kind 2: chunk size (u32 LE), the message     -> sha256 (32 bytes), init/update per chunk/final
 *   kind 3: signature (64), public key (32), msg -> 1 byte: 1 if edgec_ed25519_verify accepts
 * On the host from stdin to stdout; in the emulator (EDGEC_SEMIHOST) from in.bin to out.bin. */
#include <stdint.h>
#include "edgec_crypto.h"

#define MAX_MSG 4096u
static uint8_t msg[MAX_MSG], sig[64], pk[32], out[32];

#ifdef EDGEC_SEMIHOST
#include "semihost.h"
static intptr_t fin, fout;
static int get(void *p, uint32_t n) { return sh_read(fin, p, (intptr_t)n) == (intptr_t)n; }
static void put(const void *p, uint32_t n) { sh_write(fout, p, (intptr_t)n); }
void abort(void) { sh_exit(3); }
#else
#include <stdio.h>
static int get(void *p, uint32_t n) { return fread(p, 1, n, stdin) == n; }
static void put(const void *p, uint32_t n) { fwrite(p, 1, n, stdout); }
#endif

static uint32_t u32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }

int main(void)
{
    uint8_t head[5], w[4];
#ifdef EDGEC_SEMIHOST
    fin = sh_open("in.bin", SH_MODE_RB);
    fout = sh_open("out.bin", SH_MODE_WB);
    if (fin < 0 || fout < 0)
        return 1;
#endif
    while (get(head, 5)) {
        uint32_t len = u32(head + 1), chunk = 0, at;
        if (len > MAX_MSG)
            return 2;
        if (head[0] == 2) {
            if (!get(w, 4)) return 2;
            chunk = u32(w);
        }
        if (head[0] == 3 && (!get(sig, 64) || !get(pk, 32)))
            return 2;
        if (len && !get(msg, len))
            return 2;
        if (head[0] == 1) {
            if (edgec_sha256(out, msg, len)) return 4;
            put(out, 32);
        } else if (head[0] == 2) {
            edgec_sha256_ctx ctx;
            if (edgec_sha256_init(&ctx)) return 4;
            for (at = 0; at < len; at += chunk)
                if (edgec_sha256_update(&ctx, msg + at, len - at < chunk ? len - at : chunk)) return 4;
            if (edgec_sha256_final(&ctx, out)) return 4;
            put(out, 32);
        } else if (head[0] == 3) {
            uint8_t ok = (uint8_t)(edgec_ed25519_verify(sig, msg, len, pk) == 0);
            put(&ok, 1);
        } else {
            return 2;
        }
    }
#ifdef EDGEC_SEMIHOST
    sh_close(fin);
    sh_close(fout);
#endif
    return 0;
}
