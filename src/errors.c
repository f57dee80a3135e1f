#include <string.h>

#include "wl.h"

const char *wl_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case WL_ESCHEMA: return "the store has an unknown schema version or is not a wherelog store";
    case WL_ECORRUPT: return "a stored record is damaged";
    case WL_EMAPFULL: return "the store needs more address space than this process can map";
    case WL_ESTORE: return "store error (see the log)";
    case WL_EDUPLICATE: return "already stored";
    default: return err < 0 ? strerror(-err) : "unknown error";
    }
}
