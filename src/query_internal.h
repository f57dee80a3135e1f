/* query_internal.h - the thinning of query.c as steps its unit tests can drive with points of
 * their choosing; not part of the query.h interface. */
#ifndef WL_QUERY_INTERNAL_H
#define WL_QUERY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Largest-Triangle-Three-Buckets over as many passes as it takes, each of which may see other
 * points than the one before: the store changes between passes, and even within one (see
 * store.h). The count of the first pass only sizes the buckets; every write is bounded by what
 * q_thin_init allocated for `max`, whatever a later pass brings (more points, fewer, others).
 *
 *   q_thin_init(t, max)
 *   pass 1, every point in time order: q_thin_count(t, tst)
 *   if q_thin_needed(t):
 *       q_thin_begin_averages(t), pass 2: q_thin_average(t, have_xy, x, y)
 *       q_thin_begin_choice(t),   pass 3: q_thin_choose(t, tst, have_xy, x, y)
 *   q_thin_take(t, &keep, &nkeep): the tsts to write, ascending, nkeep <= max; without
 *       thinning, those pass 1 saw
 *   q_thin_free(t)
 *
 * One thread at a time. Only q_thin_init and q_thin_begin_averages fail (-ENOMEM).
 */
struct q_thin {
    uint32_t max;          /* points to keep at most: the capacity of sel */
    uint64_t counted;      /* points pass 1 saw: they size the buckets */
    uint32_t counted_last; /* the newest of them */
    uint64_t nb;           /* buckets between the first and the last point: max - 2 */
    double (*avg)[3];      /* nb + 1 (the last for the last point): sum x, sum y, n; then means */
    uint32_t *sel;         /* what is kept, ascending: pass 1's points, then the choice */
    size_t nsel;
    uint64_t k, b; /* the next point's index in this pass, and the bucket being filled */
    bool choosing; /* pass 3 has begun */
    /* Choice: the last point kept, the best candidate of bucket b (best < 0: none yet) and
     * the point held back because it may turn out to be the last one. */
    double px, py, best, best_x, best_y;
    uint32_t best_tst;
    bool held, held_xy;
    uint32_t held_tst;
    double held_x, held_y;
};

int q_thin_init(struct q_thin *t, uint32_t max);
void q_thin_count(struct q_thin *t, uint32_t tst);
/* More points than max: the other passes are needed. */
bool q_thin_needed(const struct q_thin *t);
int q_thin_begin_averages(struct q_thin *t);
/* have_xy: false for a point without a usable position (it still counts as a point). */
void q_thin_average(struct q_thin *t, bool have_xy, double x, double y);
void q_thin_begin_choice(struct q_thin *t);
void q_thin_choose(struct q_thin *t, uint32_t tst, bool have_xy, double x, double y);
/* Hands over the kept tsts (caller frees *keep; NULL when none). */
void q_thin_take(struct q_thin *t, uint32_t **keep, size_t *nkeep);
void q_thin_free(struct q_thin *t);

#endif
