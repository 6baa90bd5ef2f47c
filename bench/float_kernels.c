/* Float kernels of the soft-float baseline (bench/float_c.py): the same model computed in `float`,
 * the way a straightforward port of the trained model would run on a core without an FPU.  For
 * benchmarking only; the product never emits float.  Layouts as edgec's: NHWC, OHWI, [out, in]. */
#include <stdint.h>
#include "edgec_target.h"
#include "float_kernels.h"

static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

void f32_conv2d(const EDGEC_ROM f32_conv_params *p, const float *in, const EDGEC_ROM float *w,
                const EDGEC_ROM float *bias, float *out)
{
    const int32_t cg = p->in_c / p->groups, og = p->out_c / p->groups;
    int32_t oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < p->out_h; oy++)
        for (ox = 0; ox < p->out_w; ox++)
            for (oc = 0; oc < p->out_c; oc++) {
                const int32_t g = oc / og;
                float acc = bias[oc];
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h)
                        continue;
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                        const float *x;
                        const EDGEC_ROM float *wk;
                        if (ix < 0 || ix >= p->in_w)
                            continue;
                        x = in + (iy * p->in_w + ix) * p->in_c + g * cg;
                        wk = w + ((oc * p->k_h + ky) * p->k_w + kx) * cg;
                        for (c = 0; c < cg; c++)
                            acc += x[c] * wk[c];
                    }
                }
                out[(oy * p->out_w + ox) * p->out_c + oc] = clampf(acc, p->act_min, p->act_max);
            }
}

void f32_fully_connected(int32_t in_features, int32_t out_features, const float *in, const EDGEC_ROM float *w,
                         const EDGEC_ROM float *bias, float act_min, float act_max, float *out)
{
    int32_t m, k;
    for (m = 0; m < out_features; m++) {
        float acc = bias[m];
        for (k = 0; k < in_features; k++)
            acc += in[k] * w[m * in_features + k];
        out[m] = clampf(acc, act_min, act_max);
    }
}

void f32_pool(const EDGEC_ROM f32_pool_params *p, const float *in, float *out)
{
    int32_t oy, ox, c, ky, kx;
    for (oy = 0; oy < p->out_h; oy++)
        for (ox = 0; ox < p->out_w; ox++)
            for (c = 0; c < p->c; c++) {
                float acc = p->is_max ? -3.4e38f : 0.0f;
                int32_t n = 0;
                for (ky = 0; ky < p->k_h; ky++)
                    for (kx = 0; kx < p->k_w; kx++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky, ix = ox * p->stride_w - p->pad_left + kx;
                        float v;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                            continue;
                        v = in[(iy * p->in_w + ix) * p->c + c];
                        acc = p->is_max ? (v > acc ? v : acc) : acc + v;
                        n++;
                    }
                out[(oy * p->out_w + ox) * p->c + c] = clampf(p->is_max ? acc : acc / (float)n, p->act_min, p->act_max);
            }
}

void f32_add(int32_t n, const float *a, const float *b, float act_min, float act_max, float *out)
{
    int32_t i;
    for (i = 0; i < n; i++)
        out[i] = clampf(a[i] + b[i], act_min, act_max);
}

/* e^x for x <= 0 (softmax after the max is subtracted): 2^(x log2 e) as a power of two times a
 * degree-5 polynomial, since the freestanding toolchains carry no libm. */
static float expf_neg(float x)
{
    float t = x * 1.44269504f, f, p;
    int32_t k;
    if (t < -126.0f)
        return 0.0f;
    k = (int32_t)t;
    if ((float)k > t)
        k--;
    f = (t - (float)k) * 0.69314718f;
    p = 1.0f + f * (1.0f + f * (0.5f + f * (0.16666667f + f * (0.041666668f + f * 0.0083333338f))));
    while (k++ < 0)
        p *= 0.5f;
    return p;
}

void f32_softmax(int32_t rows, int32_t cols, const float *in, float *out)
{
    int32_t r, c;
    for (r = 0; r < rows; r++) {
        const float *x = in + r * cols;
        float mx = x[0], sum = 0.0f;
        for (c = 1; c < cols; c++)
            mx = x[c] > mx ? x[c] : mx;
        for (c = 0; c < cols; c++)
            sum += (out[r * cols + c] = expf_neg(x[c] - mx));
        for (c = 0; c < cols; c++)
            out[r * cols + c] /= sum;
    }
}
