/* iou.h - placeholder; being written. */
#ifndef CURATE_IOU_H
#define CURATE_IOU_H
#endif
