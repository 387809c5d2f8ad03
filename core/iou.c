/* iou.c - placeholder; being written. */
#include "iou.h"
