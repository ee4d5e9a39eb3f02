/*
 * Winograd F(2x2, 3x3) (Lavin & Gray, 2016) for the 3x3, stride-1, "same"-padded convolutions that
 * make up most of a ResNet's and an FPN's arithmetic. Each 2x2 output tile is
 * A^T [(G g G^T) . (B^T d B)] A of its 4x4 input patch d, so one convolution becomes 16 GEMMs
 * [tiles, C] x [C, K] with 16 / 36 of im2col's multiplications. Tiles go in chunks (the chunk's
 * transformed inputs and products stay a few MiB), chunks round-robin over the threads.
 *   input gradient: the same convolution of dy with the filter turned by 180 degrees, Ci and Co
 *     swapped (every dx tile is written once: no scatter, threads stay disjoint);
 *   filter gradient: the adjoint, dg = G^T [sum over tiles (B^T d B) . (A dy A^T)] G, the sum
 *     being 16 GEMMs [C, tiles] x [tiles, K] into per-thread accumulators.
 * Rounding: the transforms only add, subtract and halve, so results stay within a few ulp of the
 * direct sums' (the kernel tests compare with tfjs's cpu backend at 1e-4).
 */
#include "winograd.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

static int g_policy = WINOGRAD_AUTO;

void winograd_configure(int policy) { g_policy = policy; }

/*
 * WINOGRAD_AUTO, from the kernel bench (bench/kernels_bench.ts `winograd`, OpenBLAS Haswell
 * kernels): 1.4-1.9x over im2col, at 1 thread and at 2, where the maps hold many tiles for their
 * channels (ResNet C2 / C3, FPN P2 / P3, the mask head, CIFAR ResNet layers 1-3); slower on small
 * maps with wide channels (C5: 10x15x512, 80 tiles), where the 16 GEMMs are short and, for the
 * filter gradient, each thread's 16 x Ci x Co accumulator outweighs its share of the tiles.
 */
int winograd_applies(const conv_geom *g) {
  if (g_policy == WINOGRAD_OFF || g->KH != 3 || g->KW != 3 || g->sh != 1 || g->sw != 1 || g->pt != 1 ||
      g->pl != 1 || g->OH != g->H || g->OW != g->W)
    return 0;
  if (g_policy == WINOGRAD_ALWAYS) return 1;
  const int64_t tiles = g->N * ((g->H + 1) / 2) * ((g->W + 1) / 2), wide = g->Ci > g->Co ? g->Ci : g->Co;
  return g->Ci >= 16 && g->Co >= 16 && tiles >= 256 && tiles >= 2 * wide;
}

/* U[16][plane] = G g G^T elementwise over planes, from the 9 taps g[ky][kx] (each `plane` floats). */
static void transform_filter(const float *const taps[9], int64_t plane, float *u) {
  for (int64_t e = 0; e < plane; e++) {
    float g[3][3], t[4][3];
    for (int i = 0; i < 9; i++) g[i / 3][i % 3] = taps[i][e];
    for (int x = 0; x < 3; x++) {
      t[0][x] = g[0][x];
      t[1][x] = 0.5f * (g[0][x] + g[1][x] + g[2][x]);
      t[2][x] = 0.5f * (g[0][x] - g[1][x] + g[2][x]);
      t[3][x] = g[2][x];
    }
    for (int i = 0; i < 4; i++) {
      u[(i * 4 + 0) * plane + e] = t[i][0];
      u[(i * 4 + 1) * plane + e] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[(i * 4 + 2) * plane + e] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[(i * 4 + 3) * plane + e] = t[i][2];
    }
  }
}

typedef struct {
  int64_t H, W, TH, TW;
} tiling;

static void tile_of(const tiling *tl, int64_t t, int64_t *n, int64_t *oh, int64_t *ow) {
  const int64_t per_image = tl->TH * tl->TW;
  *n = t / per_image;
  *oh = 2 * ((t % per_image) / tl->TW);
  *ow = 2 * (t % tl->TW);
}

/*
 * The per-tile transforms run over the channels 8 at a time with GCC vector types (GCC 12 does not
 * vectorise these 16-stream loops itself), then one at a time for the rest. LD / ST: unaligned.
 */
typedef float vf8 __attribute__((vector_size(32)));
static inline vf8 ld8(const float *p) { vf8 v; memcpy(&v, p, sizeof v); return v; }
static inline void st8(float *p, vf8 v) { memcpy(p, &v, sizeof v); }
static inline float ld1(const float *p) { return *p; }
static inline void st1(float *p, float v) { *p = v; }
/* Runs BODY(T, LD, ST, c) for c = 0, 8, ... with vectors and then for the remaining c singly. */
#define OVER_CHANNELS(count, BODY)                                   \
  do {                                                               \
    int64_t c_ = 0;                                                  \
    for (; c_ + 8 <= (count); c_ += 8) BODY(vf8, ld8, st8, c_);      \
    for (; c_ < (count); c_++) BODY(float, ld1, st1, c_);            \
  } while (0)

/* B^T d B of one 4x4 patch (d[i*4+j] rows of C floats) into o[k] (k = i*4+j). */
static void input_tile(const float *const d[], int64_t C, float *const o[16]) {
#define INPUT_BODY(T, LD, ST, c)                                                                   \
  {                                                                                              \
    T x[16];                                                                                     \
    for (int i = 0; i < 16; i++) x[i] = LD(d[i] + (c));                                          \
    for (int j = 0; j < 4; j++) { /* rows: B^T d */                                              \
      const T r0 = x[j] - x[8 + j], r1 = x[4 + j] + x[8 + j], r2 = x[8 + j] - x[4 + j], r3 = x[4 + j] - x[12 + j]; \
      x[j] = r0; x[4 + j] = r1; x[8 + j] = r2; x[12 + j] = r3;                                   \
    }                                                                                            \
    for (int i = 0; i < 4; i++) { /* columns: (B^T d) B */                                       \
      const T *r = x + 4 * i;                                                                    \
      ST(o[4 * i] + (c), r[0] - r[2]);                                                           \
      ST(o[4 * i + 1] + (c), r[1] + r[2]);                                                       \
      ST(o[4 * i + 2] + (c), r[2] - r[1]);                                                       \
      ST(o[4 * i + 3] + (c), r[1] - r[3]);                                                       \
    }                                                                                            \
  }
  OVER_CHANNELS(C, INPUT_BODY);
#undef INPUT_BODY
}

/* p[i * size + j] = the row of pixel (h0 + i, w0 + j) of image n ([H, W, C] each), or `zeros` outside it. */
static void patch_rows(const tiling *tl, const float *src, int64_t C, int64_t n, int64_t h0, int64_t w0, int size,
                       const float *zeros, const float **p) {
  for (int i = 0; i < size; i++) {
    const int64_t h = h0 + i;
    for (int j = 0; j < size; j++) {
      const int64_t w = w0 + j;
      p[i * size + j] = h < 0 || h >= tl->H || w < 0 || w >= tl->W ? zeros : src + ((n * tl->H + h) * tl->W + w) * C;
    }
  }
}

/* o[k] = row r of the k-th of 16 [tiles, C] matrices at base (ks = tiles * C apart). */
static void tile_rows(float *base, int64_t ks, int64_t r, int64_t C, float **o) {
  for (int k = 0; k < 16; k++) o[k] = base + k * ks + r * C;
}

/* A^T m A of one tile (m[k] rows of K floats) into y[0..3] = outputs (0,0), (0,1), (1,0), (1,1). */
static void output_tile(const float *const m[16], int64_t K, float *const y[4]) {
#define OUTPUT_BODY(T, LD, ST, c)                                                                  \
  {                                                                                              \
    T s[4], t[4];                                                                                \
    for (int j = 0; j < 4; j++) { /* rows: A^T m */                                              \
      const T a = LD(m[j] + (c)), b = LD(m[4 + j] + (c)), e = LD(m[8 + j] + (c)), f = LD(m[12 + j] + (c)); \
      s[j] = a + b + e;                                                                          \
      t[j] = b - e - f;                                                                          \
    }                                                                                            \
    /* columns: (A^T m) A */                                                                     \
    ST(y[0] + (c), s[0] + s[1] + s[2]);                                                          \
    ST(y[1] + (c), s[1] - s[2] - s[3]);                                                          \
    ST(y[2] + (c), t[0] + t[1] + t[2]);                                                          \
    ST(y[3] + (c), t[1] - t[2] - t[3]);                                                          \
  }
  OVER_CHANNELS(K, OUTPUT_BODY);
#undef OUTPUT_BODY
}

/* y tile = A^T m A for tiles t0 .. t0 + tc - 1 (m[k][r][K]); outputs past the image edge go to `spill`. */
static void transform_output(const tiling *tl, const float *m, int64_t K, int64_t t0, int64_t tc, float *spill, float *y) {
  const int64_t ks = tc * K;
  for (int64_t r = 0; r < tc; r++) {
    int64_t n, oh, ow;
    tile_of(tl, t0 + r, &n, &oh, &ow);
    const int down = oh + 1 < tl->H, right = ow + 1 < tl->W;
    float *y00 = y + ((n * tl->H + oh) * tl->W + ow) * K;
    float *out[4] = {y00, right ? y00 + K : spill, down ? y00 + tl->W * K : spill, down && right ? y00 + tl->W * K + K : spill};
    float *src[16];
    tile_rows((float *)m, ks, r, K, src);
    output_tile((const float *const *)src, K, out);
  }
}

/* A dy A^T of one 2x2 dy tile (q[0..3] = (0,0), (0,1), (1,0), (1,1), rows of K floats) into z[k]. */
static void grad_tile(const float *const q[], int64_t K, float *const z[16]) {
#define GRAD_BODY(T, LD, ST, c)                                                                    \
  {                                                                                              \
    const T y00 = LD(q[0] + (c)), y01 = LD(q[1] + (c)), y10 = LD(q[2] + (c)), y11 = LD(q[3] + (c)); \
    /* rows: A dy (4x2), then columns: (A dy) A^T */                                             \
    const T r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}}; \
    for (int i = 0; i < 4; i++) {                                                                \
      ST(z[4 * i] + (c), r[i][0]);                                                               \
      ST(z[4 * i + 1] + (c), r[i][0] + r[i][1]);                                                 \
      ST(z[4 * i + 2] + (c), r[i][0] - r[i][1]);                                                 \
      ST(z[4 * i + 3] + (c), -r[i][1]);                                                          \
    }                                                                                            \
  }
  OVER_CHANNELS(K, GRAD_BODY);
#undef GRAD_BODY
}

/*
 * Transformed patches of tiles t0 .. t0 + tc - 1 into out[k][r][C]: the 4x4 input patches (one
 * pixel of padding before each tile) by input_tile, or the 2x2 output-gradient tiles by grad_tile;
 * pixels outside the image read as zeros.
 */
typedef void (*tile_fn)(const float *const rows[], int64_t C, float *const o[16]);
static void transform_tiles(const tiling *tl, const float *src, int64_t C, int64_t t0, int64_t tc, int size, tile_fn fn,
                            const float *zeros, float *out) {
  const int64_t before = size == 4 ? 1 : 0;
  for (int64_t r = 0; r < tc; r++) {
    int64_t n, oh, ow;
    tile_of(tl, t0 + r, &n, &oh, &ow);
    const float *p[16];
    float *o[16];
    patch_rows(tl, src, C, n, oh - before, ow - before, size, zeros, p);
    tile_rows(out, tc * C, r, C, o);
    fn(p, C, o);
  }
}

typedef struct {
  enum conv_mode mode;
  tiling tl;
  int64_t C, K, T, chunk;
  const float *x;   /* the input of the convolution run (dy for the input gradient) */
  const float *u;   /* transformed filter [16][C][K] (forward, input gradient) */
  const float *dy;  /* filter gradient: the output gradient [N, H, W, K] */
  float *y;         /* forward, input gradient: the output */
  float *acc[MAX_THREADS]; /* filter gradient: per-thread [16][C][K] */
  volatile int failed;
} wino_task;

static void wino_part(void *ctx, int t, int nt) {
  wino_task *w = (wino_task *)ctx;
  const int64_t C = w->C, K = w->K, tc = w->chunk;
  float *v = (float *)malloc((size_t)(16 * tc * C) * sizeof(float));
  float *m = (float *)malloc((size_t)(16 * tc * K) * sizeof(float));
  /* zeros: the padding's input rows; spill: where outputs past the image edge go */
  float *zeros = (float *)calloc((size_t)(2 * (C > K ? C : K)), sizeof(float));
  float *spill = zeros ? zeros + (C > K ? C : K) : NULL;
  if (!v || !m || !zeros) {
    w->failed = 1;
  } else {
    int first = 1;
    for (int64_t t0 = (int64_t)t * tc; t0 < w->T; t0 += (int64_t)nt * tc) {
      const int64_t n = w->T - t0 < tc ? w->T - t0 : tc;
      transform_tiles(&w->tl, w->x, C, t0, n, 4, input_tile, zeros, v);
      if (w->mode == CONV_FILTER_GRAD) {
        transform_tiles(&w->tl, w->dy, K, t0, n, 2, grad_tile, zeros, m);
        for (int k = 0; k < 16; k++) {
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)C, (blasint)K, (blasint)n, 1.0f, v + k * n * C,
                      (blasint)C, m + k * n * K, (blasint)K, first ? 0.0f : 1.0f, w->acc[t] + k * C * K, (blasint)K);
        }
        first = 0;
      } else {
        for (int k = 0; k < 16; k++) {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)n, (blasint)K, (blasint)C, 1.0f, v + k * n * C,
                      (blasint)C, w->u + k * C * K, (blasint)K, 0.0f, m + k * n * K, (blasint)K);
        }
        transform_output(&w->tl, m, K, t0, n, spill, w->y);
      }
    }
    if (first && w->mode == CONV_FILTER_GRAD) memset(w->acc[t], 0, (size_t)(16 * C * K) * sizeof(float));
  }
  free(v);
  free(m);
  free(zeros);
}

/* dw[ky][kx] = (G^T acc G)[ky][kx] over planes of C*K. */
static void filter_from_acc(const float *acc, int64_t plane, float *dw) {
  for (int64_t e = 0; e < plane; e++) {
    float a[4][4], s[3][4];
    for (int i = 0; i < 16; i++) a[i / 4][i % 4] = acc[i * plane + e];
    for (int j = 0; j < 4; j++) {
      s[0][j] = a[0][j] + 0.5f * (a[1][j] + a[2][j]);
      s[1][j] = 0.5f * (a[1][j] - a[2][j]);
      s[2][j] = 0.5f * (a[1][j] + a[2][j]) + a[3][j];
    }
    for (int y = 0; y < 3; y++) {
      dw[(y * 3 + 0) * plane + e] = s[y][0] + 0.5f * (s[y][1] + s[y][2]);
      dw[(y * 3 + 1) * plane + e] = 0.5f * (s[y][1] - s[y][2]);
      dw[(y * 3 + 2) * plane + e] = 0.5f * (s[y][1] + s[y][2]) + s[y][3];
    }
  }
}

int winograd_conv(enum conv_mode mode, const conv_geom *g, const float *a, const float *b, float *out) {
  wino_task w;
  memset(&w, 0, sizeof w);
  w.mode = mode;
  w.tl = (tiling){g->H, g->W, (g->H + 1) / 2, (g->W + 1) / 2};
  w.T = g->N * w.tl.TH * w.tl.TW;
  /* the convolution run: C inputs -> K outputs (the input gradient runs Co -> Ci) */
  w.C = mode == CONV_INPUT_GRAD ? g->Co : g->Ci;
  w.K = mode == CONV_INPUT_GRAD ? g->Ci : g->Co;
  const int64_t plane = g->Ci * g->Co;
  int nt = threads_for((double)g->N * g->H * g->W * plane * 9);
  int64_t chunk = ((int64_t)1 << 16) / (w.C + w.K);
  if (chunk < 32) chunk = 32;
  const int64_t even = (w.T + nt - 1) / nt;
  w.chunk = even < chunk ? even : chunk;
  float *u = NULL, *rotated = NULL;
  int rc = 0;
  if (mode == CONV_FILTER_GRAD) {
    w.x = a;
    w.dy = b;
    for (int t = 0; t < nt && !w.failed; t++) {
      w.acc[t] = (float *)malloc((size_t)(16 * plane) * sizeof(float));
      if (!w.acc[t]) w.failed = 1;
    }
    if (!w.failed) parallel_for(wino_part, &w, nt);
    if (!w.failed) {
      for (int t = 1; t < nt; t++)
        for (int64_t i = 0; i < 16 * plane; i++) w.acc[0][i] += w.acc[t][i];
      filter_from_acc(w.acc[0], plane, out);
    }
    for (int t = 0; t < nt; t++) free(w.acc[t]);
  } else {
    u = (float *)malloc((size_t)(16 * plane) * sizeof(float));
    const float *taps[9];
    if (u && mode == CONV_INPUT_GRAD) {
      /* tap (ky, kx) of the turned filter, [Co][Ci]: the (2 - ky, 2 - kx) tap of w transposed */
      rotated = (float *)malloc((size_t)(9 * plane) * sizeof(float));
      if (rotated) {
        for (int k = 0; k < 9; k++) {
          const float *src = b + (int64_t)(8 - k) * plane;
          float *dst = rotated + (int64_t)k * plane;
          for (int64_t ci = 0; ci < g->Ci; ci++)
            for (int64_t co = 0; co < g->Co; co++) dst[co * g->Ci + ci] = src[ci * g->Co + co];
          taps[k] = dst;
        }
      }
    } else if (u) {
      for (int k = 0; k < 9; k++) taps[k] = b + (int64_t)k * plane;
    }
    if (!u || (mode == CONV_INPUT_GRAD && !rotated)) {
      w.failed = 1;
    } else {
      transform_filter(taps, plane, u);
      w.x = a;
      w.u = u;
      w.y = out;
      parallel_for(wino_part, &w, nt);
    }
  }
  if (w.failed) rc = -1;
  free(u);
  free(rotated);
  return rc;
}
