#ifndef SSLIGHT_WINOGRAD_H
#define SSLIGHT_WINOGRAD_H
#include "native.h"

enum winograd_policy { WINOGRAD_OFF = 0, WINOGRAD_AUTO = 1, WINOGRAD_ALWAYS = 2 };

/* Whether winograd_conv takes this convolution: 3x3, stride 1, "same" padding and, under
 * WINOGRAD_AUTO, a shape where it is faster than im2col; WINOGRAD_ALWAYS: every such shape. */
int winograd_applies(const conv_geom *g);
/*
 * The convolution of `mode` by Winograd F(2x2, 3x3). Operands as conv2d / conv2dFilterGrad /
 * conv2dInputGrad: FWD (x, w) -> y, FILTER_GRAD (x, dy) -> dw, INPUT_GRAD (dy, w) -> dx.
 * Returns 0, or -1 when out of memory (nothing useful written).
 */
int winograd_conv(enum conv_mode mode, const conv_geom *g, const float *a, const float *b, float *out);
/* One of enum winograd_policy (default WINOGRAD_AUTO). */
void winograd_configure(int policy);
#endif
