/* uniqueness.c - placeholder; being written. */
#include "uniqueness.h"
