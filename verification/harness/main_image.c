/* Image tool, as a firmware loads a model image: checks it with this build's kernel set
 * (edgec_image_check), prints one line ("refused: ...", naming a missing kernel, or "ok ..."), then with
 * the self-test runs the golden inputs (edgec_image_selftest), then runs the samples.
 * Host: `main_image IMAGE [--selftest]`, samples on stdin, outputs on stdout, the line on stdout when
 * refused and on stderr otherwise.  Emulator (EDGEC_SEMIHOST): image.bin, in.bin -> out.bin, always
 * with the self-test, the line on the console.  Exit 0, or 3 when refused. */
#include <stdint.h>
#include "edgec_image.h"

#ifndef IMAGE_MAX
#define IMAGE_MAX (8u << 20)
#endif
#ifndef ARENA_MAX
#define ARENA_MAX (4u << 20)
#endif
#ifndef IO_MAX
#define IO_MAX (1u << 20)
#endif
static uint64_t image[IMAGE_MAX / 8];
static uint64_t arena[ARENA_MAX / 8];
static uint8_t sample_in[IO_MAX], sample_out[IO_MAX];

#ifdef EDGEC_SEMIHOST
#include "semihost.h"
static intptr_t fin, fout;
static uint32_t get(void *p, uint32_t n) { return (uint32_t)sh_read(fin, p, (intptr_t)n); }
static uint32_t put(const void *p, uint32_t n) { return (uint32_t)sh_write(fout, p, (intptr_t)n); }
static void say(const char *line, int refused) { (void)refused; sh_puts(line); }
#else
#include <stdio.h>
#include <string.h>
static uint32_t get(void *p, uint32_t n) { return (uint32_t)fread(p, 1, n, stdin); }
static uint32_t put(const void *p, uint32_t n) { return (uint32_t)fwrite(p, 1, n, stdout); }
static void say(const char *line, int refused) { fputs(line, refused ? stdout : stderr); }
#endif

static char line[160];
static uint32_t at;

static void text(const char *s)
{
    while (*s && at < sizeof line - 2)
        line[at++] = *s++;
    line[at] = 0;
}

static void number(int32_t v)
{
    char buf[12];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    if (v < 0)
        text("-");
    do {
        buf[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    while (n)
        line[at < sizeof line - 2 ? at++ : at] = buf[--n];
    line[at] = 0;
}

static const char *why(int code)
{
    switch (code) {
    case EDGEC_IMAGE_E_SHORT: return "truncated";
    case EDGEC_IMAGE_E_MAGIC: return "bad magic";
    case EDGEC_IMAGE_E_FORMAT: return "unknown format version";
    case EDGEC_IMAGE_E_ABI: return "other kernel ABI";
    case EDGEC_IMAGE_E_KERNEL: return "missing kernel";
    case EDGEC_IMAGE_E_BOUNDS: return "out of bounds";
    case EDGEC_IMAGE_E_SCHEDULE: return "bad schedule";
    case EDGEC_IMAGE_E_ARENA: return "arena too small";
    case EDGEC_IMAGE_E_HASH: return "sha256 mismatch";
    case EDGEC_IMAGE_E_SELFTEST: return "self-test failed";
    case EDGEC_IMAGE_E_ALIGN: return "misaligned";
    default: return "error";
    }
}

static int refuse(int r, const edgec_image_info *info)
{
    at = 0;
    text("refused: code ");
    number(r);
    text(" (");
    text(why(r));
    text(")");
    if (r == EDGEC_IMAGE_E_KERNEL) {
        text(": this firmware lacks kernel ");
        text(edgec_image_kernel_name(info->missing_kernel));
        text(" (id ");
        number(info->missing_kernel);
        text(")");
    } else if (info && info->bad_call >= 0) {
        text(" at call ");
        number(info->bad_call);
    }
    text("\n");
    say(line, 1);
    return 3;
}

int main(int argc, char **argv)
{
    uint32_t len;
    edgec_image_info info;
    int r, selftest;
#ifdef EDGEC_SEMIHOST
    (void)argc;
    (void)argv;
    fin = sh_open("image.bin", SH_MODE_RB);
    if (fin < 0)
        return 2;
    len = get(image, sizeof image);
    sh_close(fin);
    fin = sh_open("in.bin", SH_MODE_RB);
    fout = sh_open("out.bin", SH_MODE_WB);
    if (fin < 0 || fout < 0)
        return 2;
    selftest = 1;
#else
    FILE *f;
    if (argc < 2 || !(f = fopen(argv[1], "rb")))
        return 2;
    len = (uint32_t)fread(image, 1, sizeof image, f);
    fclose(f);
    selftest = argc > 2 && strcmp(argv[2], "--selftest") == 0;
#endif
    r = edgec_image_check((const uint8_t *)image, len, sizeof arena, &info);
    if (r != EDGEC_IMAGE_OK)
        return refuse(r, &info);
    if (info.input_bytes > sizeof sample_in || info.output_bytes > sizeof sample_out)
        return 2;
    at = 0;
    text("ok ");
    text(info.name);
    text(" ");
    text(info.version);
    text(" calls=");
    number((int32_t)info.calls);
    text(" arena=");
    number((int32_t)info.arena_bytes);
    text("\n");
    say(line, 0);
    if (selftest) {
        r = edgec_image_selftest((const uint8_t *)image, (uint8_t *)arena, sample_out);
        if (r != EDGEC_IMAGE_OK)
            return refuse(r, 0);
        at = 0;
        text("selftest ok (");
        number((int32_t)info.selftests);
        text(" golden inputs)\n");
        say(line, 0);
    }
    edgec_image_reset((const uint8_t *)image, (uint8_t *)arena);
    while (get(sample_in, info.input_bytes) == info.input_bytes) {
        edgec_image_run((const uint8_t *)image, (uint8_t *)arena, sample_in, sample_out);
        if (put(sample_out, info.output_bytes) != info.output_bytes)
            return 1;
    }
    return 0;
}
