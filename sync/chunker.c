#include "config.h"

#include <stdbool.h>

#include "chunker.h"
#include "util.h"

/* The gear hash shifts left once per byte, so after 64 bytes a byte no longer
 * affects it: the hash is a function of the last 64 bytes only. Bytes more
 * than WINDOW before the first possible cut are skipped unhashed (FastCDC's
 * cut-point skipping); the WINDOW bytes before it are hashed without testing
 * so that the first tested hash already covers a full window. */
#define WINDOW 64u

/* Normalized chunking, level 2: 16 + 2 bits must be zero below the average
 * size, 16 - 2 above it. The top bits are tested because they depend on the
 * whole window. */
#define MASK_STRICT (~UINT64_C(0) << (64 - 18))
#define MASK_LOOSE  (~UINT64_C(0) << (64 - 14))

/* splitmix64 seeded with 0x6566732d67656172 ("efs-gear"): the first 256
 * outputs, in order. Fixed forever: the cut points depend on it. */
static const uint64_t gear[256] = {
	0xb667cfc0e9c176a2, 0x76b497fcb818bd76, 0x5eba13c30b4ac0ba, 0x710a8595048b6e1e,
	0xdcbdaf2e27a8d4a3, 0x2f442d30bdc236a4, 0x08259d60a73415ab, 0x47b71f07d58eaf0c,
	0x3494d1074d1dcc19, 0xf4d78dc370433103, 0x2c8e2a1753c76cc4, 0xc707dcc7c5c455d3,
	0x8a36d58527737656, 0x3b0e1ea40e1cb28b, 0x506828063b69bbe4, 0x6c013f42d922ee95,
	0x66a18f120791a8c3, 0x8bbe3e13d025a34a, 0x7da0f6e62e92b000, 0xf68caf941edfa577,
	0x7321c90ead779acd, 0xa3bdfcccb72203e3, 0x6b2f6d7c821c39ff, 0x8af3d81d1dd58a2f,
	0xe227c6973adf417a, 0x61e087f3a5693549, 0x29e2963eeba4c9e9, 0x99b61f1ff9b965c9,
	0x989a4aa5d3bff05f, 0x5fbd7c6bfe0a5600, 0x23c2dfd92ef35ca7, 0x19d63bc6a34330b1,
	0x9855a992652a83af, 0x656cd746bce2401d, 0xa1ec264e1c5d8df1, 0x0fe573ee354e0d39,
	0xf5b50a01ccc270d7, 0x59fdb4f64298333a, 0x010507853a0500bd, 0x84209105b9105b18,
	0x0bb48d57a80d5453, 0x54c821a00ad74018, 0x14f5dddfe9b07b55, 0x0e5e88e60f783a55,
	0x658e76dc3491b2e3, 0xa02d22007611f771, 0x77ca54b8d9066cf1, 0xab125c46cf0098dc,
	0x89e6fc80989261b5, 0xab272a4596d52daa, 0x81226e276d7a6b9f, 0xc3431c56fbec5ec7,
	0xe66f9531d9aa92d4, 0x71e288085a419208, 0x4c5029c7ac5c5d60, 0x2364a3b3cbf0ed5a,
	0x4cf6f3ce4c775f23, 0x86cde59c7a384ac1, 0x68f8f58cd61ed5ca, 0x96df0ddf9cf9421f,
	0x1233c1a736f819d9, 0x0137e668fc4b04f9, 0x23be26dec540dfa3, 0x9f0075e4b6a575c6,
	0xbceb004bce6f7e61, 0x4e9e2d9fd68455d2, 0xafa1945e1cac5e22, 0x709cd051192c8dae,
	0xa383165bc7926e35, 0xf32af1cebb1935b3, 0xc95bc2a176c98361, 0x7dddbd320e6f2894,
	0xa17e7df1956cf00e, 0x369682149abc45f0, 0xfa1fe43ec83654ce, 0xafcc3e541d5c73b8,
	0x99d52b77caffdea0, 0x82823e4fc282adde, 0xb7755c5161767ba8, 0x7150ae2032c4d2a8,
	0xdcb1da30063e344f, 0x0468b2323c74cb10, 0x93d9d235f86c0693, 0x019a4b8a7f4e1d68,
	0xa11fc927d01fa285, 0xbcd8ac8e93781180, 0x450562aefd383cbc, 0xc217d14409899a0d,
	0x9660e8451e02317e, 0x8f26669385ef923b, 0x3b2ca6e5ed530a7f, 0x34a16bf13524ea2b,
	0xcc9c02d7e64473e1, 0x9ae42021dd1b3a1b, 0xe943958aec9d3d1b, 0x3c76bf4c11254192,
	0x6b901dfa96777e54, 0xb09a9688f01c256d, 0xe2e015d9e4b2d144, 0x868ef1690c10e9c4,
	0x4b10eac20e15da86, 0xca96fbb7234e2c71, 0x88f3768b808a18ff, 0x3733139ddb6da81b,
	0x44dcaecd97bef412, 0xb1726c999c2cae75, 0x0152c81d2469b618, 0x1e6cca540446afb8,
	0x0649c3d2cfd1be65, 0xf899b6bc775e6bdb, 0xd3cefbd415080f36, 0x864ead5a46ff3121,
	0x6d75f6436416ce27, 0x32d407c3caa5b86d, 0x297133d96ba6ca9a, 0xc91a991c369e664e,
	0xd96e88e0264ebeae, 0x67e5a6dda0e169cc, 0x00dda896d4558776, 0x4e07576287980d32,
	0x613b320ebd3cb923, 0xa8c979aa06950ae0, 0x200d50ebf32832cf, 0x926bb583952c73c2,
	0xbc2425e82347e67a, 0xcbf1caf1027c8c1c, 0xe82d1ebefecf605f, 0xbd1288d7c2d9e9d1,
	0x95ac0b0d9bd06f61, 0x4d5b320f791c54a6, 0xa7f00e3806c017ee, 0x3dbb9f6198d4c3c2,
	0xb4d341776a849c75, 0x8a6ee3abafb4bb14, 0x7c91678e1d2d6aed, 0x3acb38453759881a,
	0x2999baa12a7cc6d6, 0x2309b49116d22a80, 0xda182436f8ada2ad, 0x826a897f36c9cd47,
	0x231f2badc29cbcf5, 0x66977a1e9e530ff9, 0x41e33f8aaeefa099, 0xfd691546ac4edd1b,
	0xee63af5f8b030654, 0xa1dc2e436477f66b, 0xe8183051c2c1eb20, 0x17507d284c6769cc,
	0xf01f64ad11295765, 0x233d46b0c3662bfa, 0xeb2d2300f3633707, 0x36719c0ab7900b1b,
	0x97ddc1f81a156807, 0xc3d2aa2a27601079, 0x5422ff3533c129c2, 0x7d93a900216adb47,
	0x600488ffb77a6ef6, 0x70ca050829b845c3, 0xc4547b06cbabcf7b, 0xd069773915c87a10,
	0x6ce823fe8ccd4a8c, 0x2ef097eb69ae555b, 0x0394abf3099eafaa, 0xff9cf5e1a808f891,
	0xbc314b1627f56e47, 0x03cfe2c195d55d8b, 0x861dc69de2701c71, 0xc69b26aefe87fa37,
	0xebe56f7f7464918e, 0xad4ef3c985024e36, 0xe3129942871fa1a6, 0x5ffae04209914b45,
	0x8e142fd56c7073d3, 0xe04ecc80a3b681d0, 0x660a67724a1f0f19, 0x092a89a920c58bf0,
	0x637e0b3f9b677c22, 0x3b7452eb4bd8788e, 0x354a48531fb6bac0, 0x1c705f71588d1b37,
	0x40b2a1323dd1bea4, 0x96658a6c7243cfe4, 0xdc633451ac5e4e60, 0x4eac1e8dff49a491,
	0x0ce8233db4d39359, 0xa9c6e6d95f3c3c06, 0xdbcce11372f9eff4, 0x657ff3001f4fb3dd,
	0xec88507c721dcd9a, 0xce4b6d500010bb44, 0x737030df25dcad1f, 0x0a10040030cdb08b,
	0x73ba565809c46d58, 0x702865d80d3dea34, 0x827518fbde005004, 0xf7ecc9f0386a6d36,
	0xef439b3c0aac3fd3, 0xd373cbe316d2466a, 0x50398976f165d99f, 0xc4217678a6a63089,
	0xa1777523f5c67132, 0x374bfa4d164a0894, 0x342e74e2b23b6d95, 0x9d8b8c95b0540848,
	0x873eac90ce98ed60, 0xe0fc41e69914e1ca, 0xfa0c49fb6ec638bf, 0xd27c2040726971c7,
	0x282e1659238e28e6, 0x5f49ccc662c51119, 0xddaaf19049e0025f, 0xcba8a180083ccad3,
	0x0e78d70cbff89065, 0x5935e589dcee9207, 0x5adc6055e5d7b877, 0x48c3acd078ab37c2,
	0x442f7a86e11a6021, 0x911a7e7b256d1aba, 0xab01fdb42aad6ff9, 0x776c5c9ffe65d158,
	0xb08b976c4b133a12, 0x3a504027f7355a80, 0x99e7d2f32ed92b8c, 0x26c602596cbe71e6,
	0xc54e7aad166ba0a9, 0xcbd18c0716038f6f, 0x41f7dc1f467bb68b, 0xa0474d12d0387347,
	0xcd49ea6dab10f1ca, 0x27493849b49f391e, 0xa4aeeadfbafd3536, 0xc47c50f305bfb517,
	0xcdb1340869b678b9, 0x141f3d1eae20f8ad, 0xdd3bb3b564c99e19, 0x9ed98ada647b328e,
	0xf988aa1d2d94b879, 0xa56e89c458c69402, 0x70d3fff5c3b31098, 0x985af4ca34d9b9f5,
	0x8b61ded2647164b2, 0x8d0a0cfdcc618ec0, 0xae4039092e224bf9, 0xf9ed29995f9ed08d,
	0x476a8c6c9d8ae03d, 0x81c8d36d8ad3e532, 0xa1d9778d85ff6e72, 0xc59accb58e76cff6,
	0x49a1c8019f1877a4, 0x9ad72046f64cec69, 0x67716e060e300216, 0x3fc74becdebe1264,
	0x42ca321194bb67dc, 0x02affd5084223bbb, 0x78f8d34d040c1f0d, 0xab4ea472889e36b0,
};

void chunker_reset(struct chunker *c)
{
	c->hash = 0;
	c->chunk_size = 0;
}

/* Hashes b[0..n) and returns the length up to the first position whose hash
 * has no bit of `mask` set, or 0 if there is none. */
static inline size_t gear_find(uint64_t *hp, const uint8_t *b, size_t n, uint64_t mask)
{
	uint64_t h = *hp;
	size_t i = 0;

	/* Eight bytes a round, each still hashed and tested in order: the loop's
	 * own count and branch were a third of the instructions per byte. */
	for (; n - i >= 8; i += 8) {
#pragma GCC unroll 8
		for (size_t k = 0; k < 8; k++) {
			h = (h << 1) + gear[b[i + k]];
			if (!(h & mask)) {
				*hp = h;
				return i + k + 1;
			}
		}
	}
	for (; i < n; i++) {
		h = (h << 1) + gear[b[i]];
		if (!(h & mask)) {
			*hp = h;
			return i + 1;
		}
	}
	*hp = h;
	return 0;
}

/* Hashes and tests b[*i..n) until the chunk is `end` bytes long. Advances *i
 * past the bytes consumed; returns true on a cut. */
static inline bool scan_region(struct chunker *c, const uint8_t *b, size_t n, size_t *i, size_t end,
			       uint64_t mask)
{
	size_t k, r;

	if (c->chunk_size >= end || *i >= n)
		return false;
	k = MIN(n - *i, end - c->chunk_size);
	r = gear_find(&c->hash, b + *i, k, mask);
	if (r) {
		*i += r;
		return true;
	}
	*i += k;
	c->chunk_size += k;
	return false;
}

size_t chunker_scan(struct chunker *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i = 0, k;

	if (c->chunk_size < CHUNK_MIN_SIZE - WINDOW) {
		k = MIN(n, CHUNK_MIN_SIZE - WINDOW - c->chunk_size);
		i += k;
		c->chunk_size += k;
	}
	if (c->chunk_size < CHUNK_MIN_SIZE - 1 && i < n) {
		k = MIN(n - i, CHUNK_MIN_SIZE - 1 - c->chunk_size);
		for (size_t j = 0; j < k; j++)
			c->hash = (c->hash << 1) + gear[b[i + j]];
		i += k;
		c->chunk_size += k;
	}
	/* Chunk lengths [MIN, AVG) use the strict mask, [AVG, MAX) the loose one. */
	if (scan_region(c, b, n, &i, CHUNK_AVG_SIZE - 1, MASK_STRICT) ||
	    scan_region(c, b, n, &i, CHUNK_MAX_SIZE - 1, MASK_LOOSE))
		goto cut;
	if (i < n) {
		i++;
		goto cut;
	}
	return 0;
cut:
	chunker_reset(c);
	return i;
}
