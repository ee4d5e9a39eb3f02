/* Shared by the addon's C files: the thread pool and the convolution geometry. */
#ifndef SSLIGHT_NATIVE_H
#define SSLIGHT_NATIVE_H
#include <stdint.h>

#define MAX_THREADS 16

typedef void (*task_fn)(void *ctx, int tid, int nt);

/* Runs fn(ctx, t, nt) for every t in [0, nt); the caller runs t = 0. */
void parallel_for(task_fn fn, void *ctx, int nt);
/* Threads worth using for `work` multiply-adds. */
int threads_for(double work);

/* NHWC input [N, H, W, Ci], HWIO filter [KH, KW, Ci, Co], output [N, OH, OW, Co]. */
typedef struct {
  int64_t N, H, W, Ci, OH, OW, Co, KH, KW, sh, sw, pt, pl;
} conv_geom;

enum conv_mode { CONV_FWD, CONV_FILTER_GRAD, CONV_INPUT_GRAD };

#endif
