/* Path safety for writing untrusted trees (image layers, checkpoint archives)
 * below a root directory: nothing an archive names may land outside that root,
 * whether through an absolute path, a `..` component, or a symlink planted by an
 * earlier entry.
 *
 * Two kinds of checks: lexical ones on the names themselves
 * (pathsafe_normalize, pathsafe_is_inside), and resolution ones against the real
 * directory tree (pathsafe_open_beneath and friends), which use openat2's
 * RESOLVE_BENEATH so the kernel refuses any walk that leaves the root. */
#ifndef CRYO_PATHSAFE_H
#define CRYO_PATHSAFE_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Normalise a relative path taken from an archive entry: drop a leading "./",
 * repeated and trailing slashes and "." components ("./a//b/./c/" -> "a/b/c").
 * The root itself ("." or "./") becomes ".". Fails with -EINVAL for an empty or
 * absolute path and for any ".." component (even one that would stay inside).
 * On success *out is allocated. */
int pathsafe_normalize(const char *path, char **out, cryo_err *err);

/* Lexically clean an absolute path: collapse slashes, "." and ".." ("/a/../b/"
 * -> "/b"; ".." at the top stays at "/"). Returns an allocated string, or NULL
 * when path is not absolute. */
char *pathsafe_clean_absolute(const char *path);

/* Lexical containment: is the absolute path `path` equal to `root` or below it,
 * once both are cleaned? "/a/bc" is not inside "/a/b". No file system access:
 * symlinks are not considered (use pathsafe_open_beneath for that). */
bool pathsafe_is_inside(const char *root, const char *path);

/* Split a normalised relative path into its parent and last component
 * ("a/b/c" -> "a/b", "c"; "c" -> ".", "c"). Both allocated. */
void pathsafe_split(const char *rel, char **parent, char **base);

/* openat2(rootfd, rel, flags, mode) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS:
 * symlinks are followed only while they stay below rootfd; an absolute symlink
 * or one whose `..` climbs out fails with -EXDEV ("resolves outside"). Returns
 * the new descriptor (>= 0) or a negative errno with err set. */
int pathsafe_open_beneath(int rootfd, const char *rel, int flags, mode_t mode, cryo_err *err);

/* The same with RESOLVE_NO_SYMLINKS as well: no symbolic link is followed on
 * the way or at the end (-ELOOP names the path), for writes into trees that a
 * container controls (its upper dir, its volumes). */
int pathsafe_open_beneath_nofollow(int rootfd, const char *rel, int flags, mode_t mode, cryo_err *err);

/* Open `rel` as if rootfd were "/" (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV): absolute symbolic links and `..` stay inside, the way the
 * container itself sees its files; for reading a container's or an image's
 * files (its /etc/passwd) from the host. */
int pathsafe_open_in_root(int rootfd, const char *rel, int flags, cryo_err *err);

/* Check that every existing component of `rel` resolves below rootfd. A missing
 * component (ENOENT) or a non-directory one (ENOTDIR) ends the check
 * successfully: nothing beyond it exists to escape through. Fails with -EXDEV
 * when the walk would leave the root, -ELOOP on too many symlinks. */
int pathsafe_check_beneath(int rootfd, const char *rel, cryo_err *err);

/* Like `mkdir -p rel` below rootfd, creating missing directories with `mode`,
 * never leaving the root. Returns an O_RDONLY | O_DIRECTORY descriptor of the
 * final directory (>= 0) or a negative errno with err set. */
int pathsafe_mkdir_beneath(int rootfd, const char *rel, mode_t mode, cryo_err *err);

#endif
