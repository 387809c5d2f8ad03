/* evaluate.h - placeholder; being written. */
#ifndef CURATE_EVALUATE_H
#define CURATE_EVALUATE_H
#endif
