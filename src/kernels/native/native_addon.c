/*
 * Optional native kernels for the wasm backend, running directly on the wasm heap (the
 * WebAssembly.Memory ArrayBuffer): operands are never copied, packed or transposed by extra
 * passes. Built by build.sh; when absent, the wasm kernels use their XNNPACK compositions.
 *
 * sgemm(heap, transA, transB, M, N, K, aOff, bOff, cOff)   OpenBLAS; C = op(A) op(B), row-major
 * dwFilterGrad(heap, xOff, dyOff, outOff, geom)            depth-wise conv weight gradient
 * dwInputGrad(heap, dyOff, wOff, outOff, geom)             depth-wise conv input gradient
 *   geom = [N, H, W, C, OH, OW, KH, KW, strideH, strideW, padTop, padLeft] (multiplier 1, NHWC)
 * relu6Grad(heap, dyOff, xOff, outOff, count)             dy where 0 < x <= 6, else 0 (NaN x: NaN)
 * bnTrain(heap, [x, gamma, beta, y, mean, var], M, C, eps) training batch norm over M rows of C
 * bnTrainGrad(heap, [dy, x, mean, var, gamma, dx, dgamma, dbeta], M, C, eps)   its gradient
 * conv2d(heap, [x, w, y], cgeom), conv2dFilterGrad(heap, [x, dy, dw], cgeom),
 * conv2dInputGrad(heap, [dy, w, dx], cgeom)                im2col (in row chunks) + sgemm, or
 *   Winograd F(2x2, 3x3) for 3x3 stride-1 "same" convolutions (winograd.c);
 *   cgeom = [N, H, W, Ci, OH, OW, Co, KH, KW, strideH, strideW, padTop, padLeft], NHWC / HWIO
 * larsUpdate(heap, [p, g, mu, pOut, muOut], N, [lr, wd, momentum, eta, adapt])  one LARS step
 *   of one parameter (norms, trust ratio, momentum, update) in two passes
 * emaUpdate(heap, [t0, o0, out0, t1, o1, out1, ...], [n0, n1, ...], m)  out = m t + (1 - m) o
 * maxPoolGrad(heap, xOff, dyOff, dxOff, geom)             max-pool input gradient (first max of
 *   each window in row-major scan order takes dy, as tfjs), geom as for the depth-wise kernels
 * expf(heap, xOff, outOff, N)                             out = exp(x), vectorised (Cody-Waite
 *   reduction + degree-6 polynomial, <= 2 ulp; results below FLT_MIN flush to 0)
 * setThreads(n[, minWork]), getThreads()                  threads for sgemm and the convolutions (default 1;
 *   operations under minWork multiply-adds, default 4e6, stay on one)
 * blasCore()                                              OpenBLAS's kernel set (openblas_get_corename)
 * setWinograd(policy)                                     which convolutions go to Winograd: 0 none,
 *   1 those where it is faster (the default), 2 every 3x3 stride-1 "same" one
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include "native.h"
#include "winograd.h"

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "sslight_native: N-API call failed"); return NULL; } } while (0)

/*
 * Threads: OpenBLAS itself always runs on one thread; with setThreads(n > 1) the convolutions and
 * the GEMM entry split their work over n threads of their own, each calling single-threaded sgemm.
 * (OpenBLAS's own threading scaled 1.0-1.6x on the convolutions' chunked GEMMs here, and its
 * spinning workers slowed the im2col between calls 2-4x; chunk-level threads give 1.6-1.7x.)
 */
static int g_threads = 1;
/* Multiply-adds below which an operation stays on one thread (starting one costs tens of microseconds). */
static double g_min_work = 4e6;

typedef struct { task_fn fn; void *ctx; int tid, nt; } task_arg;

static void *task_main(void *p) {
  task_arg *a = (task_arg *)p;
  a->fn(a->ctx, a->tid, a->nt);
  return NULL;
}

/* Runs fn(ctx, t, nt) for every t in [0, nt); the caller runs t = 0 and any thread that failed to start. */
void parallel_for(task_fn fn, void *ctx, int nt) {
  if (nt <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  pthread_t th[MAX_THREADS];
  task_arg args[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (int t = 1; t < nt; t++) {
    args[t] = (task_arg){fn, ctx, t, nt};
    started[t] = pthread_create(&th[t], NULL, task_main, &args[t]) == 0;
  }
  fn(ctx, 0, nt);
  for (int t = 1; t < nt; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else fn(ctx, t, nt);
  }
}

/* Threads worth using for `work` multiply-adds. */
int threads_for(double work) {
  if (g_threads <= 1 || work < g_min_work) return 1;
  return g_threads;
}

static int64_t arg_int(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
}

typedef struct {
  bool ta, tb;
  int64_t m, n, k;
  const float *a, *b;
  float *c;
} gemm_task;

/* Thread t's share of C = op(A) op(B): a band of C's rows, or of its columns when M is short. */
static void gemm_part(void *ctx, int t, int nt) {
  const gemm_task *g = (const gemm_task *)ctx;
  const blasint lda = (blasint)(g->ta ? g->m : g->k), ldb = (blasint)(g->tb ? g->k : g->n);
  const CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans, tb = g->tb ? CblasTrans : CblasNoTrans;
  if (g->m >= g->n || g->m >= 64 * nt) {
    const int64_t i0 = g->m * t / nt, i1 = g->m * (t + 1) / nt;
    if (i1 <= i0) return;
    const float *a = g->ta ? g->a + i0 : g->a + i0 * g->k;
    cblas_sgemm(CblasRowMajor, ta, tb, (blasint)(i1 - i0), (blasint)g->n, (blasint)g->k, 1.0f, a, lda, g->b, ldb, 0.0f,
                g->c + i0 * g->n, (blasint)g->n);
  } else {
    const int64_t j0 = g->n * t / nt, j1 = g->n * (t + 1) / nt;
    if (j1 <= j0) return;
    const float *b = g->tb ? g->b + j0 * g->k : g->b + j0;
    cblas_sgemm(CblasRowMajor, ta, tb, (blasint)g->m, (blasint)(j1 - j0), (blasint)g->k, 1.0f, g->a, lda, b, ldb, 0.0f,
                g->c + j0, (blasint)g->n);
  }
}

static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 9) {
    napi_throw_type_error(env, NULL, "sgemm(heap, transA, transB, M, N, K, aOff, bOff, cOff)");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "sgemm: heap must be an ArrayBuffer");
    return NULL;
  }
  bool ta = false, tb = false;
  CHECK(napi_get_value_bool(env, argv[1], &ta));
  CHECK(napi_get_value_bool(env, argv[2], &tb));
  const int64_t m = arg_int(env, argv[3]), n = arg_int(env, argv[4]), k = arg_int(env, argv[5]);
  const int64_t ao = arg_int(env, argv[6]), bo = arg_int(env, argv[7]), co = arg_int(env, argv[8]);
  if (m <= 0 || n <= 0 || k <= 0 || ao < 0 || bo < 0 || co < 0 || (ao | bo | co) % 4 != 0 ||
      (uint64_t)ao + 4 * (uint64_t)(m * k) > length || (uint64_t)bo + 4 * (uint64_t)(k * n) > length ||
      (uint64_t)co + 4 * (uint64_t)(m * n) > length) {
    napi_throw_range_error(env, NULL, "sgemm: operands outside the heap or bad sizes");
    return NULL;
  }
  const float *a = (const float *)((char *)data + ao);
  const float *b = (const float *)((char *)data + bo);
  float *c = (float *)((char *)data + co);
  gemm_task task = {ta, tb, m, n, k, a, b, c};
  parallel_for(gemm_part, &task, threads_for((double)m * n * k));
  return NULL;
}


/* Reads the 12-entry geometry array; returns 0 on success. */
static int read_geom(napi_env env, napi_value arr, int64_t g[12]) {
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok || len != 12) return -1;
  for (uint32_t i = 0; i < 12; i++) {
    napi_value v;
    if (napi_get_element(env, arr, i, &v) != napi_ok) return -1;
    g[i] = arg_int(env, v);
    if (g[i] < 0 || (i < 10 && g[i] == 0)) return -1;
  }
  return 0;
}

static float *heap_floats(napi_env env, napi_value buf, int64_t off, int64_t count, size_t *len_out) {
  void *data = NULL;
  size_t length = 0;
  if (napi_get_arraybuffer_info(env, buf, &data, &length) != napi_ok) return NULL;
  if (off < 0 || off % 4 != 0 || (uint64_t)off + 4 * (uint64_t)count > length) return NULL;
  if (len_out) *len_out = length;
  return (float *)((char *)data + off);
}

/* The geometry of the window kernels below (depth-wise gradients, max-pool gradient). */
typedef struct {
  int64_t N, H, W, C, OH, OW, KH, KW, sh, sw, pt, pl;
} window_geom;

/*
 * The shared prologue of the window kernels, called as name(heap, off0, off1, off2, geometry):
 * reads the geometry and resolves the three operands, whose shapes `kinds` names one letter each
 * ('x' input [N,H,W,C], 'y' output [N,OH,OW,C], 'w' window [KH,KW,C]). Throws and returns -1 on
 * bad arguments.
 */
static int window_args(napi_env env, napi_callback_info info, const char *usage, const char *name, const char kinds[3],
                       window_geom *geom, float *ops[3]) {
  size_t argc = 5;
  napi_value argv[5];
  int64_t g[12];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 || read_geom(env, argv[4], g) != 0) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  *geom = (window_geom){g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
  for (int i = 0; i < 3; i++) {
    const int64_t count = kinds[i] == 'x'   ? g[0] * g[1] * g[2] * g[3]
                          : kinds[i] == 'y' ? g[0] * g[4] * g[5] * g[3]
                                            : g[6] * g[7] * g[3];
    ops[i] = heap_floats(env, argv[0], arg_int(env, argv[1 + i]), count, NULL);
    if (!ops[i]) {
      char msg[96];
      snprintf(msg, sizeof msg, "%s: operands outside the heap", name);
      napi_throw_range_error(env, NULL, msg);
      return -1;
    }
  }
  return 0;
}

/*
 * dW[kh,kw,c] = sum over n,oh,ow of x[n, oh*sh+kh-pt, ow*sw+kw-pl, c] * dy[n,oh,ow,c].
 * One pass over dy, each x row touched by at most KH output rows while it is in cache; the
 * [KH*KW*C] accumulator stays in L1/L2. The inner loop over channels vectorises.
 */
static napi_value dw_filter_grad(napi_env env, napi_callback_info info) {
  window_geom G;
  float *ops[3];
  if (window_args(env, info, "dwFilterGrad(heap, xOff, dyOff, outOff, [N,H,W,C,OH,OW,KH,KW,sh,sw,pt,pl])", "dwFilterGrad", "xyw", &G, ops) != 0) return NULL;
  const int64_t N = G.N, H = G.H, W = G.W, C = G.C, OH = G.OH, OW = G.OW, KH = G.KH, KW = G.KW;
  const int64_t sh = G.sh, sw = G.sw, pt = G.pt, pl = G.pl;
  const float *x = ops[0], *dy = ops[1];
  float *out = ops[2];
  float *acc = (float *)calloc((size_t)(KH * KW * C), sizeof(float));
  if (!acc) {
    napi_throw_error(env, NULL, "dwFilterGrad: out of memory");
    return NULL;
  }
  for (int64_t n = 0; n < N; n++) {
    for (int64_t oh = 0; oh < OH; oh++) {
      for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sh + kh - pt;
        if (ih < 0 || ih >= H) continue;
        const float *xrow = x + ((n * H + ih) * W) * C;
        const float *dyrow = dy + ((n * OH + oh) * OW) * C;
        for (int64_t ow = 0; ow < OW; ow++) {
          const float *d = dyrow + ow * C;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            const float *xv = xrow + iw * C;
            float *a = acc + (kh * KW + kw) * C;
            for (int64_t c = 0; c < C; c++) a[c] += xv[c] * d[c];
          }
        }
      }
    }
  }
  memcpy(out, acc, (size_t)(KH * KW * C) * sizeof(float));
  free(acc);
  return NULL;
}

/*
 * dx[n,ih,iw,c] = sum over taps of dy[n,oh,ow,c] * w[kh,kw,c] where ih = oh*sh+kh-pt, iw = ow*sw+kw-pl:
 * scattered from each dy pixel into its KH x KW input window (no zero-dilation for strides).
 */
static napi_value dw_input_grad(napi_env env, napi_callback_info info) {
  window_geom G;
  float *ops[3];
  if (window_args(env, info, "dwInputGrad(heap, dyOff, wOff, outOff, [N,H,W,C,OH,OW,KH,KW,sh,sw,pt,pl])", "dwInputGrad", "ywx", &G, ops) != 0) return NULL;
  const int64_t N = G.N, H = G.H, W = G.W, C = G.C, OH = G.OH, OW = G.OW, KH = G.KH, KW = G.KW;
  const int64_t sh = G.sh, sw = G.sw, pt = G.pt, pl = G.pl;
  const float *dy = ops[0], *w = ops[1];
  float *dx = ops[2];
  memset(dx, 0, (size_t)(N * H * W * C) * sizeof(float));
  for (int64_t n = 0; n < N; n++) {
    for (int64_t oh = 0; oh < OH; oh++) {
      for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh * sh + kh - pt;
        if (ih < 0 || ih >= H) continue;
        float *xrow = dx + ((n * H + ih) * W) * C;
        const float *dyrow = dy + ((n * OH + oh) * OW) * C;
        for (int64_t ow = 0; ow < OW; ow++) {
          const float *d = dyrow + ow * C;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            float *o = xrow + iw * C;
            const float *wk = w + (kh * KW + kw) * C;
            for (int64_t c = 0; c < C; c++) o[c] += d[c] * wk[c];
          }
        }
      }
    }
  }
  return NULL;
}

static napi_value relu6_grad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 5) {
    napi_throw_type_error(env, NULL, "relu6Grad(heap, dyOff, xOff, outOff, count)");
    return NULL;
  }
  const int64_t count = arg_int(env, argv[4]);
  const float *dy = heap_floats(env, argv[0], arg_int(env, argv[1]), count, NULL);
  const float *x = heap_floats(env, argv[0], arg_int(env, argv[2]), count, NULL);
  float *out = heap_floats(env, argv[0], arg_int(env, argv[3]), count, NULL);
  if (count < 0 || !dy || !x || !out) {
    napi_throw_range_error(env, NULL, "relu6Grad: operands outside the heap");
    return NULL;
  }
  for (int64_t i = 0; i < count; i++) {
    const float v = x[i];
    out[i] = (v > 0.0f && v <= 6.0f) ? dy[i] : (v != v ? v : 0.0f);
  }
  return NULL;
}

/* Reads `count` byte offsets (an array) and resolves each to a float pointer of `sizes[i]` floats. */
static int heap_ptrs(napi_env env, napi_value heap, napi_value arr, int count, const int64_t *sizes, float **out) {
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok || (int)len != count) return -1;
  for (int i = 0; i < count; i++) {
    napi_value v;
    if (napi_get_element(env, arr, (uint32_t)i, &v) != napi_ok) return -1;
    out[i] = heap_floats(env, heap, arg_int(env, v), sizes[i], NULL);
    if (!out[i]) return -1;
  }
  return 0;
}

/*
 * Training-mode batch norm of x [M, C]: mean and biased variance per channel from one pass of
 * double sums (sum x, sum x^2; in double the cancellation in E[x^2] - mean^2 costs ~1e-16
 * mean^2, far below float32 resolution of the variance for any activation scale met here), then
 * y = (x - mean) * gamma / sqrt(var + eps) + beta: 2 passes over x instead of 3.
 */
static napi_value bn_train(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double eps = 0;
  if (argc != 5 || napi_get_value_double(env, argv[4], &eps) != napi_ok) {
    napi_throw_type_error(env, NULL, "bnTrain(heap, [x, gamma, beta, y, mean, var], M, C, eps)");
    return NULL;
  }
  const int64_t M = arg_int(env, argv[2]), C = arg_int(env, argv[3]);
  const int64_t sizes[6] = {M * C, C, C, M * C, C, C};
  float *p[6];
  if (M <= 0 || C <= 0 || heap_ptrs(env, argv[0], argv[1], 6, sizes, p) != 0) {
    napi_throw_range_error(env, NULL, "bnTrain: operands outside the heap or bad sizes");
    return NULL;
  }
  const float *x = p[0], *gamma = p[1], *beta = p[2];
  float *y = p[3], *mean = p[4], *var = p[5];
  double *acc = (double *)calloc((size_t)(2 * C), sizeof(double));
  float *scale = (float *)malloc((size_t)C * sizeof(float));
  float *shift = (float *)malloc((size_t)C * sizeof(float));
  if (!acc || !scale || !shift) {
    free(acc); free(scale); free(shift);
    napi_throw_error(env, NULL, "bnTrain: out of memory");
    return NULL;
  }
  double *acc2 = acc + C;
  for (int64_t r = 0; r < M; r++) {
    const float *row = x + r * C;
    for (int64_t c = 0; c < C; c++) {
      const double v = row[c];
      acc[c] += v;
      acc2[c] += v * v;
    }
  }
  for (int64_t c = 0; c < C; c++) {
    const double mu = acc[c] / (double)M;
    double v = acc2[c] / (double)M - mu * mu;
    if (v < 0) v = 0;
    mean[c] = (float)mu;
    var[c] = (float)v;
    scale[c] = (float)(gamma[c] / sqrt(v + eps));
    shift[c] = (float)(beta[c] - mu * (gamma[c] / sqrt(v + eps)));
  }
  for (int64_t r = 0; r < M; r++) {
    const float *row = x + r * C;
    float *out = y + r * C;
    for (int64_t c = 0; c < C; c++) out[c] = row[c] * scale[c] + shift[c];
  }
  free(acc); free(scale); free(shift);
  return NULL;
}

/*
 * With xc = x - mean, inv = 1/sqrt(var + eps), k = gamma * inv:
 *   dbeta = sum(dy), dgamma = inv * sum(dy * xc),
 *   dx = k * (dy - sum(dy)/M) - xc * k * inv^2 * sum(dy * xc)/M.
 * One pass for the sums, one for dx.
 */
static napi_value bn_train_grad(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double eps = 0;
  if (argc != 5 || napi_get_value_double(env, argv[4], &eps) != napi_ok) {
    napi_throw_type_error(env, NULL, "bnTrainGrad(heap, [dy, x, mean, var, gamma, dx, dgamma, dbeta], M, C, eps)");
    return NULL;
  }
  const int64_t M = arg_int(env, argv[2]), C = arg_int(env, argv[3]);
  const int64_t sizes[8] = {M * C, M * C, C, C, C, M * C, C, C};
  float *p[8];
  if (M <= 0 || C <= 0 || heap_ptrs(env, argv[0], argv[1], 8, sizes, p) != 0) {
    napi_throw_range_error(env, NULL, "bnTrainGrad: operands outside the heap or bad sizes");
    return NULL;
  }
  const float *dy = p[0], *x = p[1], *mean = p[2], *var = p[3], *gamma = p[4];
  float *dx = p[5], *dgamma = p[6], *dbeta = p[7];
  double *sdy = (double *)calloc((size_t)C, sizeof(double));
  double *sdyxc = (double *)calloc((size_t)C, sizeof(double));
  float *a = (float *)malloc((size_t)C * sizeof(float));
  float *b = (float *)malloc((size_t)C * sizeof(float));
  float *cst = (float *)malloc((size_t)C * sizeof(float));
  if (!sdy || !sdyxc || !a || !b || !cst) {
    free(sdy); free(sdyxc); free(a); free(b); free(cst);
    napi_throw_error(env, NULL, "bnTrainGrad: out of memory");
    return NULL;
  }
  for (int64_t r = 0; r < M; r++) {
    const float *g = dy + r * C, *row = x + r * C;
    for (int64_t c = 0; c < C; c++) { sdy[c] += g[c]; sdyxc[c] += (double)g[c] * ((double)row[c] - mean[c]); }
  }
  for (int64_t c = 0; c < C; c++) {
    const double inv = 1.0 / sqrt((double)var[c] + eps);
    const double k = gamma[c] * inv;
    dbeta[c] = (float)sdy[c];
    dgamma[c] = (float)(sdyxc[c] * inv);
    /* dx = a*dy + b*xc + cst with a = k, b = -k*inv^2*mean(dy*xc), cst = -k*mean(dy) */
    a[c] = (float)k;
    b[c] = (float)(-k * inv * inv * sdyxc[c] / (double)M);
    cst[c] = (float)(-k * sdy[c] / (double)M);
  }
  for (int64_t r = 0; r < M; r++) {
    const float *g = dy + r * C, *row = x + r * C;
    float *o = dx + r * C;
    for (int64_t c = 0; c < C; c++) o[c] = a[c] * g[c] + b[c] * (row[c] - mean[c]) + cst[c];
  }
  free(sdy); free(sdyxc); free(a); free(b); free(cst);
  return NULL;
}

static int read_conv_geom(napi_env env, napi_value arr, conv_geom *g) {
  int64_t v[13];
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok || len != 13) return -1;
  for (uint32_t i = 0; i < 13; i++) {
    napi_value e;
    if (napi_get_element(env, arr, i, &e) != napi_ok) return -1;
    v[i] = arg_int(env, e);
    if (v[i] < 0 || (i < 11 && v[i] == 0)) return -1;
  }
  g->N = v[0]; g->H = v[1]; g->W = v[2]; g->Ci = v[3]; g->OH = v[4]; g->OW = v[5]; g->Co = v[6];
  g->KH = v[7]; g->KW = v[8]; g->sh = v[9]; g->sw = v[10]; g->pt = v[11]; g->pl = v[12];
  return 0;
}

/* Output pixels per chunk: the [rows, KH*KW*Ci] patch matrix stays around 4 MiB. */
static int64_t chunk_rows(const conv_geom *g) {
  const int64_t k = g->KH * g->KW * g->Ci;
  int64_t rows = (1 << 20) / (k > 0 ? k : 1);
  return rows < 64 ? 64 : rows;
}

/* Patches of output pixels [p0, p0 + rows) as rows of col ([kh][kw][ci] order, zero padding). */
static void im2col(const conv_geom *g, const float *x, int64_t p0, int64_t rows, float *col) {
  const int64_t k = g->KH * g->KW * g->Ci, per_image = g->OH * g->OW;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t p = p0 + r, n = p / per_image, oh = (p % per_image) / g->OW, ow = p % g->OW;
    float *dst = col + r * k;
    for (int64_t kh = 0; kh < g->KH; kh++) {
      const int64_t ih = oh * g->sh + kh - g->pt;
      for (int64_t kw = 0; kw < g->KW; kw++, dst += g->Ci) {
        const int64_t iw = ow * g->sw + kw - g->pl;
        if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) memset(dst, 0, (size_t)g->Ci * sizeof(float));
        else memcpy(dst, x + ((n * g->H + ih) * g->W + iw) * g->Ci, (size_t)g->Ci * sizeof(float));
      }
    }
  }
}

/* Adds the patch rows back into dx (the adjoint of im2col). */
static void col2im_add(const conv_geom *g, const float *col, int64_t p0, int64_t rows, float *dx) {
  const int64_t k = g->KH * g->KW * g->Ci, per_image = g->OH * g->OW;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t p = p0 + r, n = p / per_image, oh = (p % per_image) / g->OW, ow = p % g->OW;
    const float *src = col + r * k;
    for (int64_t kh = 0; kh < g->KH; kh++) {
      const int64_t ih = oh * g->sh + kh - g->pt;
      for (int64_t kw = 0; kw < g->KW; kw++, src += g->Ci) {
        const int64_t iw = ow * g->sw + kw - g->pl;
        if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
        float *d = dx + ((n * g->H + ih) * g->W + iw) * g->Ci;
        for (int64_t c = 0; c < g->Ci; c++) d[c] += src[c];
      }
    }
  }
}

typedef struct {
  const conv_geom *g;
  enum conv_mode mode;
  float *p[3];
  int64_t rows, K;
  /* filter gradient: thread t's accumulator (t = 0: the output itself) */
  float *partial[MAX_THREADS];
  volatile int failed;
} conv_task;

/*
 * Thread t's share of one convolution: chunks t, t + nt, ... of the output pixels (forward,
 * filter gradient into its own accumulator), or the chunks of its own images (input gradient).
 */
static void conv_part(void *ctx, int t, int nt) {
  conv_task *c = (conv_task *)ctx;
  const conv_geom *g = c->g;
  const int64_t P = g->N * g->OH * g->OW, K = c->K, rows = c->rows;
  float *col = (float *)malloc((size_t)(rows * K) * sizeof(float));
  if (!col) {
    c->failed = 1;
    return;
  }
  if (c->mode == CONV_INPUT_GRAD) {
    const int64_t per_image = g->OH * g->OW;
    const int64_t q0 = g->N * t / nt * per_image, q1 = g->N * (t + 1) / nt * per_image;
    for (int64_t p0 = q0; p0 < q1; p0 += rows) {
      const int64_t r = q1 - p0 < rows ? q1 - p0 : rows;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)r, (blasint)K, (blasint)g->Co, 1.0f,
                  c->p[0] + p0 * g->Co, (blasint)g->Co, c->p[1], (blasint)g->Co, 0.0f, col, (blasint)K);
      col2im_add(g, col, p0, r, c->p[2]);
    }
  } else {
    int first = 1;
    for (int64_t p0 = (int64_t)t * rows; p0 < P; p0 += (int64_t)nt * rows) {
      const int64_t r = P - p0 < rows ? P - p0 : rows;
      im2col(g, c->p[0], p0, r, col);
      if (c->mode == CONV_FWD) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)r, (blasint)g->Co, (blasint)K, 1.0f, col,
                    (blasint)K, c->p[1], (blasint)g->Co, 0.0f, c->p[2] + p0 * g->Co, (blasint)g->Co);
      } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)K, (blasint)g->Co, (blasint)r, 1.0f, col,
                    (blasint)K, c->p[1] + p0 * g->Co, (blasint)g->Co, first ? 0.0f : 1.0f, c->partial[t], (blasint)g->Co);
        first = 0;
      }
    }
  }
  free(col);
}

static napi_value conv_common(napi_env env, napi_callback_info info, enum conv_mode mode) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  conv_geom g;
  if (argc != 3 || read_conv_geom(env, argv[2], &g) != 0) {
    napi_throw_type_error(env, NULL, "conv(heap, [a, b, out], [N,H,W,Ci,OH,OW,Co,KH,KW,sh,sw,pt,pl])");
    return NULL;
  }
  const int64_t P = g.N * g.OH * g.OW, K = g.KH * g.KW * g.Ci;
  const int64_t xs = g.N * g.H * g.W * g.Ci, ys = P * g.Co, ws = K * g.Co;
  int64_t sizes[3];
  if (mode == CONV_FWD) { sizes[0] = xs; sizes[1] = ws; sizes[2] = ys; }
  else if (mode == CONV_FILTER_GRAD) { sizes[0] = xs; sizes[1] = ys; sizes[2] = ws; }
  else { sizes[0] = ys; sizes[1] = ws; sizes[2] = xs; }
  float *p[3];
  if (heap_ptrs(env, argv[0], argv[1], 3, sizes, p) != 0) {
    napi_throw_range_error(env, NULL, "conv: operands outside the heap");
    return NULL;
  }
  if (winograd_applies(&g)) {
    if (winograd_conv(mode, &g, p[0], p[1], p[2]) != 0) napi_throw_error(env, NULL, "conv: out of memory");
    return NULL;
  }
  conv_task task = {&g, mode, {p[0], p[1], p[2]}, chunk_rows(&g), K, {NULL}, 0};
  int nt = threads_for((double)P * K * g.Co);
  if (mode == CONV_INPUT_GRAD && nt > g.N) nt = (int)g.N; /* threads take whole images: dx regions stay disjoint */
  /* Filter gradient: each thread reduces over its own output pixels into its own KH*KW*Ci x Co
   * accumulator; with few pixels per thread (ResNet C5 at batch 2: 300) the short reductions and
   * the extra accumulators cost more than the second thread gains (measured 1.5-2.3x slower).
   * With minWork 0 (setThreads(n, 0): split everything, as the tests do) any split goes. */
  const int64_t min_pixels = g_min_work > 0 ? 512 : 1;
  if (mode == CONV_FILTER_GRAD) while (nt > 1 && P / nt < min_pixels) nt--;
  if (nt > 1 && mode != CONV_INPUT_GRAD) {
    const int64_t even = (P + nt - 1) / nt; /* small P: one chunk per thread rather than one uneven chunk */
    if (even < task.rows) task.rows = even;
  }
  if (mode == CONV_INPUT_GRAD) memset(p[2], 0, (size_t)xs * sizeof(float));
  if (mode == CONV_FILTER_GRAD) {
    task.partial[0] = p[2];
    for (int t = 1; t < nt; t++) {
      task.partial[t] = (float *)calloc((size_t)ws, sizeof(float));
      if (!task.partial[t]) task.failed = 1;
    }
  }
  if (!task.failed) parallel_for(conv_part, &task, nt);
  if (mode == CONV_FILTER_GRAD) {
    for (int t = 1; t < nt; t++) {
      if (!task.partial[t]) continue;
      if (!task.failed) for (int64_t i = 0; i < ws; i++) p[2][i] += task.partial[t][i];
      free(task.partial[t]);
    }
  }
  if (task.failed) {
    napi_throw_error(env, NULL, "conv: out of memory");
    return NULL;
  }
  return NULL;
}

static napi_value conv2d_fwd(napi_env env, napi_callback_info info) { return conv_common(env, info, CONV_FWD); }
static napi_value conv2d_filter_grad(napi_env env, napi_callback_info info) { return conv_common(env, info, CONV_FILTER_GRAD); }
static napi_value conv2d_input_grad(napi_env env, napi_callback_info info) { return conv_common(env, info, CONV_INPUT_GRAD); }

/*
 * Max-pool gradient: each output pixel's dy goes to the first maximum of its window (scan order
 * kh, then kw; padding never wins; strictly greater, so ties and NaN keep the earlier pixel), the
 * rule of tfjs's cpu maxPoolPositions. Per output pixel the window is scanned with the channel
 * loop innermost (vectorised running max and argmax), then dy is scattered; dx is zeroed first.
 */
static napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  window_geom G;
  float *ops[3];
  if (window_args(env, info, "maxPoolGrad(heap, xOff, dyOff, dxOff, [N,H,W,C,OH,OW,KH,KW,sh,sw,pt,pl])", "maxPoolGrad", "xyx", &G, ops) != 0) return NULL;
  const int64_t N = G.N, H = G.H, W = G.W, C = G.C, OH = G.OH, OW = G.OW, KH = G.KH, KW = G.KW;
  const int64_t sh = G.sh, sw = G.sw, pt = G.pt, pl = G.pl;
  const float *x = ops[0], *dy = ops[1];
  float *dx = ops[2];
  float *best = (float *)malloc((size_t)C * sizeof(float));
  int32_t *arg = (int32_t *)malloc((size_t)C * sizeof(int32_t));
  if (!best || !arg) {
    free(best); free(arg);
    napi_throw_error(env, NULL, "maxPoolGrad: out of memory");
    return NULL;
  }
  memset(dx, 0, (size_t)(N * H * W * C) * sizeof(float));
  for (int64_t n = 0; n < N; n++) {
    const float *xn = x + n * H * W * C;
    float *dxn = dx + n * H * W * C;
    for (int64_t oh = 0; oh < OH; oh++) {
      for (int64_t ow = 0; ow < OW; ow++) {
        for (int64_t c = 0; c < C; c++) { best[c] = -INFINITY; arg[c] = -1; }
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t ih = oh * sh + kh - pt;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t iw = ow * sw + kw - pl;
            if (iw < 0 || iw >= W) continue;
            const int32_t pos = (int32_t)(ih * W + iw);
            const float *xv = xn + (int64_t)pos * C;
            for (int64_t c = 0; c < C; c++) {
              const int better = xv[c] > best[c];
              best[c] = better ? xv[c] : best[c];
              arg[c] = better ? pos : arg[c];
            }
          }
        }
        const float *d = dy + ((n * OH + oh) * OW + ow) * C;
        for (int64_t c = 0; c < C; c++) {
          if (arg[c] >= 0) dxn[(int64_t)arg[c] * C + c] += d[c];
        }
      }
    }
  }
  free(best); free(arg);
  return NULL;
}

/*
 * exp(x) for float32 with no calls in the loop, so it vectorises (-O3 -march=native): x = n ln2 + r
 * with |r| <= ln2/2 (ln2 split in two for an exact reduction), exp(r) by the Cephes expf
 * polynomial, times 2^n built from the exponent bits. Overflow gives +inf, NaN stays NaN, results
 * below the smallest normal float (x < -87.3365) are 0 (the wasm and cpu kernels return subnormals
 * there: an absolute difference below 1.2e-38).
 */
static napi_value exp_f(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const int64_t n = argc == 4 ? arg_int(env, argv[3]) : -1;
  const float *x = n >= 0 ? heap_floats(env, argv[0], arg_int(env, argv[1]), n, NULL) : NULL;
  float *out = n >= 0 ? heap_floats(env, argv[0], arg_int(env, argv[2]), n, NULL) : NULL;
  if (!x || !out) {
    napi_throw_range_error(env, NULL, "expf(heap, xOff, outOff, N): operands outside the heap");
    return NULL;
  }
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    /* clamped so that k is in [-126, 128]; 2^128 is applied as 2^127 * 2 */
    const float c = v > 88.72283935546875f ? 88.72283935546875f : (v < -87.33654475f ? -87.33654475f : v);
    const float k = __builtin_rintf(c * 1.44269504088896341f);
    float r = c - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    const int32_t ki = (int32_t)k;
    const int32_t hi = ki > 127 ? 1 : 0;
    union { int32_t i; float f; } scale;
    scale.i = (ki - hi + 127) << 23;
    float y = e * scale.f * (hi ? 2.0f : 1.0f);
    y = v > 88.72283935546875f ? __builtin_inff() : y;
    y = v < -87.33654475f ? 0.0f : y;
    out[i] = v != v ? v : y;
  }
  return NULL;
}

/* Reads `count` doubles from a JS array; returns 0 on success. */
static int read_doubles(napi_env env, napi_value arr, int count, double *out) {
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok || (int)len != count) return -1;
  for (int i = 0; i < count; i++) {
    napi_value v;
    if (napi_get_element(env, arr, (uint32_t)i, &v) != napi_ok || napi_get_value_double(env, v, &out[i]) != napi_ok) return -1;
  }
  return 0;
}

/*
 * One LARS step of one parameter (DINO's utils.LARS with optional decay / adaptation):
 *   d = g + wd p;  q = eta ||p|| / ||d|| when adapt and both norms > 0, else 1;
 *   mu' = momentum mu + q d;  p' = p - lr mu'.
 * Pass 1 accumulates both squared norms in double (only when adapting), pass 2 writes mu' and p'.
 * Outputs may not alias inputs (tfjs tensors are immutable).
 */
static napi_value lars_update(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double h[5];
  if (argc != 4 || read_doubles(env, argv[3], 5, h) != 0) {
    napi_throw_type_error(env, NULL, "larsUpdate(heap, [p, g, mu, pOut, muOut], N, [lr, wd, momentum, eta, adapt])");
    return NULL;
  }
  const int64_t n = arg_int(env, argv[2]);
  const int64_t sizes[5] = {n, n, n, n, n};
  float *q[5];
  if (n <= 0 || heap_ptrs(env, argv[0], argv[1], 5, sizes, q) != 0) {
    napi_throw_range_error(env, NULL, "larsUpdate: operands outside the heap or bad sizes");
    return NULL;
  }
  const float *p = q[0], *g = q[1], *mu = q[2];
  float *pOut = q[3], *muOut = q[4];
  const float lr = (float)h[0], wd = (float)h[1], mom = (float)h[2];
  float trust = 1.0f;
  if (h[4] != 0) {
    double pp = 0, dd = 0;
    for (int64_t i = 0; i < n; i++) {
      const float d = g[i] + wd * p[i];
      pp += (double)p[i] * p[i];
      dd += (double)d * d;
    }
    if (pp > 0 && dd > 0) trust = (float)(h[3] * sqrt(pp) / sqrt(dd));
  }
  for (int64_t i = 0; i < n; i++) {
    const float m = mom * mu[i] + (g[i] + wd * p[i]) * trust;
    muOut[i] = m;
    pOut[i] = p[i] - lr * m;
  }
  return NULL;
}

/* emaUpdate(heap, [t, o, out] per pair, counts, m): out = m t + (1 - m) o for every pair. */
static napi_value ema_update(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t k3 = 0, k = 0;
  double m = 0;
  if (argc != 4 || napi_get_array_length(env, argv[1], &k3) != napi_ok || napi_get_array_length(env, argv[2], &k) != napi_ok ||
      k3 != 3 * k || napi_get_value_double(env, argv[3], &m) != napi_ok) {
    napi_throw_type_error(env, NULL, "emaUpdate(heap, [t, o, out, ...], counts, m)");
    return NULL;
  }
  const float a = (float)m, b = (float)(1.0 - m);
  for (uint32_t i = 0; i < k; i++) {
    napi_value vn, v;
    CHECK(napi_get_element(env, argv[2], i, &vn));
    const int64_t n = arg_int(env, vn);
    float *ptr[3];
    for (int j = 0; j < 3; j++) {
      CHECK(napi_get_element(env, argv[1], 3 * i + (uint32_t)j, &v));
      ptr[j] = heap_floats(env, argv[0], arg_int(env, v), n, NULL);
      if (!ptr[j] || n < 0) {
        napi_throw_range_error(env, NULL, "emaUpdate: operand outside the heap");
        return NULL;
      }
    }
    const float *t = ptr[0], *o = ptr[1];
    float *out = ptr[2];
    for (int64_t j = 0; j < n; j++) out[j] = a * t[j] + b * o[j];
  }
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "setThreads(n[, minWork])");
    return NULL;
  }
  const int64_t n = arg_int(env, argv[0]);
  g_threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
  if (argc >= 2) {
    double w = 4e6;
    CHECK(napi_get_value_double(env, argv[1], &w));
    g_min_work = w < 0 ? 0 : w;
  }
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_int32(env, g_threads, &out));
  return out;
}

/* setWinograd(policy): 0 off, 1 auto (where it is faster; the default), 2 every 3x3 stride-1 "same" conv. */
static napi_value set_winograd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const int64_t policy = argc < 1 ? -1 : arg_int(env, argv[0]);
  if (policy < WINOGRAD_OFF || policy > WINOGRAD_ALWAYS) {
    napi_throw_type_error(env, NULL, "setWinograd(policy: 0 off, 1 auto, 2 always)");
    return NULL;
  }
  winograd_configure((int)policy);
  return NULL;
}

/* The OpenBLAS kernel set in use (DYNAMIC_ARCH picks it when the library loads). */
static napi_value blas_core(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_default, NULL},
      {"blasCore", NULL, blas_core, NULL, NULL, NULL, napi_default, NULL},
      {"setWinograd", NULL, set_winograd, NULL, NULL, NULL, napi_default, NULL},
      {"dwFilterGrad", NULL, dw_filter_grad, NULL, NULL, NULL, napi_default, NULL},
      {"dwInputGrad", NULL, dw_input_grad, NULL, NULL, NULL, napi_default, NULL},
      {"relu6Grad", NULL, relu6_grad, NULL, NULL, NULL, napi_default, NULL},
      {"bnTrain", NULL, bn_train, NULL, NULL, NULL, napi_default, NULL},
      {"bnTrainGrad", NULL, bn_train_grad, NULL, NULL, NULL, napi_default, NULL},
      {"conv2d", NULL, conv2d_fwd, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dFilterGrad", NULL, conv2d_filter_grad, NULL, NULL, NULL, napi_default, NULL},
      {"conv2dInputGrad", NULL, conv2d_input_grad, NULL, NULL, NULL, napi_default, NULL},
      {"maxPoolGrad", NULL, max_pool_grad, NULL, NULL, NULL, napi_default, NULL},
      {"expf", NULL, exp_f, NULL, NULL, NULL, napi_default, NULL},
      {"larsUpdate", NULL, lars_update, NULL, NULL, NULL, napi_default, NULL},
      {"emaUpdate", NULL, ema_update, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  /* OpenBLAS on one thread always (see parallel_for); setThreads raises our own threads. */
  openblas_set_num_threads(1);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
