/*
 * array.h - growing a heap array by doubling, written once for every module that appends.
 *
 * No state and no locking: the caller owns the array and its capacity.
 */
#ifndef WL_ARRAY_H
#define WL_ARRAY_H

#include <stddef.h>

/*
 * Makes the array p of *cap elements of elem_size bytes hold at least `need`: returns p if it
 * already does, else the reallocated array (its capacity, stored in *cap, doubled from *cap or
 * from `first` until it holds need; an array not yet allocated, p NULL, gets at least
 * `first`). Returns NULL only if memory ran out or the size would overflow; then p is
 * untouched and still owned by the caller, and *cap is unchanged.
 */
void *array_reserve(void *p, size_t *cap, size_t need, size_t elem_size, size_t first);

#endif
