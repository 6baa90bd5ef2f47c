/* Host tool for model images: `main_image IMAGE [--selftest]` checks the image with this build's kernel
 * set (edgec_image_check), prints one line ("ok ..." or "refused: ...", naming a missing kernel), then
 * with --selftest runs the golden inputs, then runs int8 samples from stdin to stdout.  Exit 0, or 3
 * when refused. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "edgec_image.h"

#define MAX_IMAGE (8u << 20)
#define MAX_ARENA (4u << 20)
static uint64_t image[MAX_IMAGE / 8];
static uint64_t arena[MAX_ARENA / 8];
static uint8_t sample_in[1u << 20], sample_out[1u << 20];

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

int main(int argc, char **argv)
{
    FILE *f;
    size_t len;
    edgec_image_info info;
    int r;
    if (argc < 2 || !(f = fopen(argv[1], "rb")))
        return 2;
    len = fread(image, 1, sizeof image, f);
    fclose(f);
    r = edgec_image_check((const uint8_t *)image, (uint32_t)len, sizeof arena, &info);
    if (r != EDGEC_IMAGE_OK) {
        if (r == EDGEC_IMAGE_E_KERNEL)
            printf("refused: code %d (%s): this firmware lacks kernel %s (id %d)\n", r, why(r),
                   edgec_image_kernel_name(info.missing_kernel), (int)info.missing_kernel);
        else if (info.bad_call >= 0)
            printf("refused: code %d (%s) at call %d\n", r, why(r), (int)info.bad_call);
        else
            printf("refused: code %d (%s)\n", r, why(r));
        return 3;
    }
    if (info.input_bytes > sizeof sample_in || info.output_bytes > sizeof sample_out)
        return 2;
    fprintf(stderr, "ok %s %s calls=%u arena=%u\n", info.name, info.version, (unsigned)info.calls,
            (unsigned)info.arena_bytes);
    if (argc > 2 && strcmp(argv[2], "--selftest") == 0) {
        r = edgec_image_selftest((const uint8_t *)image, (uint8_t *)arena, sample_out);
        if (r != EDGEC_IMAGE_OK) {
            printf("refused: code %d (%s)\n", r, why(r));
            return 3;
        }
        fprintf(stderr, "selftest ok (%u golden inputs)\n", (unsigned)info.selftests);
    }
    edgec_image_reset((const uint8_t *)image, (uint8_t *)arena);
    while (fread(sample_in, 1, info.input_bytes, stdin) == info.input_bytes) {
        edgec_image_run((const uint8_t *)image, (uint8_t *)arena, sample_in, sample_out);
        if (fwrite(sample_out, 1, info.output_bytes, stdout) != info.output_bytes)
            return 1;
    }
    return 0;
}
