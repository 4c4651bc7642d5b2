/* libFuzzer harness for kms/cms.c: the input goes to cms_parse, whose
 * accepted envelopes must lie within the input and hold a non-zero multiple
 * of 16 bytes of ciphertext, and to cms_decrypt with a fixed RSA-2048 test
 * key (below; the round-trip seeds in corpus/cms/ are made for it, so the
 * fuzzer reaches the unwrap and the AES layer), whose answer must be an
 * error with out wiped, or at most outsz bytes. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "kms/cms.h"

/* A test key, made for this harness with openssl genpkey; it protects
 * nothing. */
static const char TEST_KEY[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCwqgpO8h0GN0yN\n"
                               "AsCjhQFW9hnwWECQCzv5yovjcuM2DGeuPV1S8iheEH/cb6xJND4pX0RYq7zeBTyC\n"
                               "bbgRGEbYeC73zl13P103T6X+Du1W7DxAyRr7/OvG+YV0llGssc8OVSiE2Ld7SfjX\n"
                               "/VzFI4B0zOD9UTeIejoQQAyBTqGvbmNEDCmN2pXUYgh6CASd0gskKa/YpIaphv5i\n"
                               "fey+CfuBN8yl9NolOKsGSZ9mGW1Npw2bw+LOF1YKxCA9gwyJg+LdO4vzXgyTOepH\n"
                               "uZbYT5ZX6Jh+AHKdJlmcwIou8cfS+Az59zVJMDMGgdKDs0tYcJzTc5RYO/ZVMIFv\n"
                               "PNLsKx6lAgMBAAECggEAGX1vX1Svu2XfNblf8jgOqW148KTLK/1y+eevp3G8NuAz\n"
                               "VYClJoKqMGhRCo1SXn2bOnz0b5bX+XDn+im6lTzbfABbRoYQFlSeLozfdnjQ5enQ\n"
                               "B8j8i79ChcMa7meCAVjmdzryTbi3QKK7tO5ppEgrEK8/B03gpWB9YDrdkwq1aYpW\n"
                               "LnNRqJsZ90ymSHfh2e9dj6USNwnqh94TO3Ow0CaiNQYdFP5r5upW93YesX33X22y\n"
                               "zxmC1pzIpgzFnSfjMQhkS1qVaKw7csD5+TqvJYq4L37a6W1rgveBTGv86i2qJwCQ\n"
                               "/YjYV1iU0y9NN692B17x50wBep+47S7ckOFSbweNQQKBgQDs24kf3xDJwj6KN03X\n"
                               "KLcdLra5ugJW4nCGLOBWEQ2N0XUMaUj3j4lchIpO5mio5R9DFQGimTYAXdJPpz+M\n"
                               "GgpqbqBVm6pjgVW4C9QgyHWTpQ+Kikc2mH83RV5un1hVGeGwFl31xCqpLS1hdbYb\n"
                               "2iFa1E1Ng7dY0QqObB3W0mYr1wKBgQC+8SJwc/c1sqnW67X/7Q8H+bWeSuvINAMc\n"
                               "HudT3Ux//zzYoGvAp0aJzTJelk4y74pUW/mksoIO/juR8Uu48D5qeCqRpu0o4XlL\n"
                               "FMkUKSQkpFzjRxlDXxo9hj0JM3txTBKuYBVoO1vXf/x/l9M7AP2SZW7Ph9DBjXeN\n"
                               "qKWb7b/Z4wKBgQCkfvdlzhqvtJqQjUYfNqStvMKkjD2Rr+OsG8CVpXQ/WQesXfaS\n"
                               "D/q66UXQ9A4dtjqW8SDYlwU9DevA7AujNnajYj8yFVEpmCo7DuP8/JtDte/sLIq2\n"
                               "rQQ1E5U4yKulNrtZ+r64r8tdAQYyWHjoMP7XQPiK6/5KzatCLG4wwqC4swKBgD7F\n"
                               "dSX06btMfgs6uD1niH59uBhO1w6dErym6DOo1+JoXW915ZaTJ1xcCggQb6rNFvO+\n"
                               "vOZJDPqy15CV++fTiyFjWdNCRksfPMnTDnvDPq+RHTxWflaoqC67t8sTkqxfbvDG\n"
                               "g6MdiIbi+3ZSyk1mePYsxG4TXyySPlBitfb6BQ0zAoGAOO0I4t9QmEcvnfJB0hSq\n"
                               "F+WykCWm/jHCoEBkAu+83vR7F7x20eU7G7Hu63qK7ws8VxVSQav43UoUj5KoY94d\n"
                               "c//qfwcKMcYVkA9yxvwmhxvGjp1n1Y2AHr5Poir2qXBVSqxS7odTvrLhnKzotjlG\n"
                               "uovRjU9g4ccIrRe6Azhj5GQ=\n"
                               "-----END PRIVATE KEY-----\n";

static EVP_PKEY *key;

static void cleanup(void)
{
	EVP_PKEY_free(key);
}

static void setup(void)
{
	BIO *b = BIO_new_mem_buf(TEST_KEY, -1);

	key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!key)
		abort();
	atexit(cleanup);
}

static bool within(const uint8_t *p, size_t n, const uint8_t *in, size_t inn)
{
	return p >= in && n <= inn && (size_t)(p - in) <= inn - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[64];
	struct cms_envelope e;
	char why[256];
	size_t outn = 0;
	int r;

	if (!key)
		setup();
	r = cms_parse(data, size, &e, why, sizeof(why));
	if (r == 0) {
		if (!e.ct || e.ct_len == 0 || e.ct_len % 16 || e.ct_len > size)
			abort();
		if (!within(e.ek, e.ek_len, data, size) || !within(e.rid, e.rid_len, data, size))
			abort();
		cms_envelope_release(&e);
		if (e.ct)
			abort();
	} else if (r != -EBADMSG || e.ct) {
		abort();
	}
	memset(out, 0xa5, sizeof(out));
	r = cms_decrypt(data, size, key, out, sizeof(out), &outn, why, sizeof(why));
	if (r == 0) {
		if (outn > sizeof(out))
			abort();
	} else {
		if (outn != 0 || (r != -EBADMSG && r != -EKEYREJECTED && r != -EMSGSIZE))
			abort();
		for (size_t i = 0; i < sizeof(out); i++)
			if (out[i])
				abort();
	}
	return 0;
}
