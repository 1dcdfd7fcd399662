#include "util/b64.h"

#include <stdint.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64url_encoded_len(size_t n)
{
    static const size_t tail[3] = {0, 2, 3};
    return n / 3 * 4 + tail[n % 3];
}

size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;

    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

/* The 6-bit value of c, or -1 when c is not in the base64url alphabet. */
static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    size_t tail = n % 4, o = 0;
    uint32_t v = 0;

    if (tail == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = b64url_value(in[i]);
        if (d < 0)
            return -1;
        v = v << 6 | (uint32_t)d;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(v >> 16);
            out[o++] = (unsigned char)(v >> 8);
            out[o++] = (unsigned char)v;
            v = 0;
        }
    }
    /* RFC 4648 §3.5: the bits past the last whole byte must be zero, so each byte string has
       exactly one encoding. 2 chars carry 12 bits (8 + 4 spare), 3 chars 18 bits (16 + 2). */
    if (tail == 2) {
        if (v & 0x0f)
            return -1;
        out[o++] = (unsigned char)(v >> 4);
    } else if (tail == 3) {
        if (v & 0x03)
            return -1;
        out[o++] = (unsigned char)(v >> 10);
        out[o++] = (unsigned char)(v >> 2);
    }
    *outlen = o;
    return 0;
}
