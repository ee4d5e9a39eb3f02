/*
 * Optional native GEMM for the wasm backend: OpenBLAS sgemm running directly on the wasm heap
 * (the WebAssembly.Memory ArrayBuffer), so operands are never copied, packed by XNNPACK, or
 * transposed by a separate pass. Built by build.sh; absent builds fall back to XNNPACK.
 *
 * sgemm(heap, transA, transB, M, N, K, aOff, bOff, cOff)  (byte offsets, row-major, C = op(A) op(B))
 * setThreads(n), getThreads()
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "sslight_native: N-API call failed"); return NULL; } } while (0)

static int64_t arg_int(napi_env env, napi_value v) {
  int64_t out = 0;
  napi_get_value_int64(env, v, &out);
  return out;
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
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n,
              (blasint)k, 1.0f, a, (blasint)(ta ? m : k), b, (blasint)(tb ? k : n), 0.0f, c, (blasint)n);
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  openblas_set_num_threads((int)arg_int(env, argv[0]));
  return NULL;
}

static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sgemm", NULL, sgemm, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, get_threads, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, 3, props));
  /* One thread by default, like the wasm backend; callers may raise it. */
  openblas_set_num_threads(1);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
