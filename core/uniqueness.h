/* uniqueness.h - placeholder; being written. */
#ifndef CURATE_UNIQUENESS_H
#define CURATE_UNIQUENESS_H
#endif
