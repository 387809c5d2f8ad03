/* knn.h - placeholder; being written. */
#ifndef CURATE_KNN_H
#define CURATE_KNN_H
#endif
