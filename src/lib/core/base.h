/* The lowest layer of the library, below error.h, log.h and util.h (which
 * includes it): memory allocation that does not fail (it aborts, saying so)
 * and ARRAY_SIZE. It includes nothing of cryo's own. */
#ifndef CRYO_BASE_H
#define CRYO_BASE_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is not an error the engine can recover from. */
_Noreturn void oom(void);
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
