/* b64 — base64url without padding (RFC 4648 §5), the encoding of JWT segments. */
#ifndef CASEMGR_UTIL_B64_H
#define CASEMGR_UTIL_B64_H

#include <stddef.h>

/* Length of the unpadded encoding of n bytes, not counting the NUL. */
size_t b64url_encoded_len(size_t n);

/* Writes the encoding of in[0..n) and a NUL into out (at least b64url_encoded_len(n) + 1 bytes);
   returns the encoded length. Never fails. */
size_t b64url_encode(const unsigned char *in, size_t n, char *out);

/* Decodes in[0..n) into out (at least n * 3 / 4 + 1 bytes); returns 0 and sets *outlen, or -1
   on any invalid input: a byte outside the base64url alphabet (including '=', '+', '/' and
   whitespace), an impossible length (n % 4 == 1) or non-zero trailing bits (non-canonical). */
int b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen);

#endif
