/* knn.c - placeholder; being written. */
#include "knn.h"
