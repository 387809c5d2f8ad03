/* evaluate.c - placeholder; being written. */
#include "evaluate.h"
