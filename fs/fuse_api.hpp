// The one place that picks the libfuse API version; every fs/ file includes libfuse through
// this header so they all agree on FUSE_USE_VERSION (3.14 low-level API).
#pragma once

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
