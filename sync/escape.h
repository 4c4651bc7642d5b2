/* Rendering untrusted bytes (names and text from a peer, output of a job)
 * for a log line or a terminal.
 *
 * What passes unchanged: printable ASCII (0x20..0x7e) except the backslash,
 * and well-formed UTF-8 for code points from U+00A0 up, except the bidi
 * controls that reorder what a reader sees (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) and the line and paragraph separators
 * (U+2028, U+2029). Everything else becomes `\xNN`, one per byte: C0
 * controls (so a newline cannot forge a second log line and ESC cannot
 * start a terminal sequence), DEL, the C1 controls U+0080..U+009F (CSI
 * among them), malformed, overlong or surrogate sequences. A backslash
 * becomes `\\`, so an escaped text reads back unambiguously.
 */
#ifndef EFS_ESCAPE_H
#define EFS_ESCAPE_H

#include <stddef.h>

#define ESC_KEEP_NL 1u /* newline and tab pass (multi-line output for a terminal) */

/* Escapes n bytes of in into out (always NUL-terminated when outsz > 0).
 * A sequence that does not fit whole is dropped and so is everything
 * after it. Returns the number of input bytes consumed (n when all fit). */
size_t esc_buf(char *out, size_t outsz, const void *in, size_t n, unsigned flags);

/* The length of the longest prefix of in[0..n) that passes unchanged. */
size_t esc_clean_prefix(const void *in, size_t n, unsigned flags);

/* True when the NUL-terminated s needs no escaping at all. */
int esc_is_clean(const char *s);

#endif
