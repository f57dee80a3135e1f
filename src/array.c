#include "array.h"

#include <stdint.h>
#include <stdlib.h>

void *array_reserve(void *p, size_t *cap, size_t need, size_t elem_size, size_t first)
{
    if (p && need <= *cap)
        return p;
    size_t c = *cap ? *cap : first ? first : 1;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return NULL;
        c *= 2;
    }
    if (elem_size && c > SIZE_MAX / elem_size)
        return NULL;
    void *grown = realloc(p, c * elem_size);
    if (grown)
        *cap = c;
    return grown;
}
