/* Transports: one stream-socket interface over vsock, unix sockets and
 * inherited fds, so that the code above never knows which one it has.
 *
 * Addresses in text form:
 *   vsock:CID:PORT  connect to CID, or listen on that CID
 *   vsock:PORT      listen on any CID (VMADDR_CID_ANY)
 *   unix:PATH       a filesystem socket
 *   fd:N            an inherited, already connected stream socket
 *   nitro:NAME[:PORT]  the running Nitro Enclave named NAME (nitro-cli's
 *                   EnclaveName), port NITRO_DEFAULT_PORT unless given; an
 *                   empty NAME ("nitro:") is the only running enclave. Its CID
 *                   is looked up at every connect, through the resolver the
 *                   program registered, so a restarted enclave is found even
 *                   if its CID changed.
 * CID, PORT and N are plain decimal (no sign, space or hex); PATH is non-empty
 * and fits sun_path; NAME is at most NITRO_NAME_MAX bytes of letters, digits,
 * '.', '_' and '-'.
 *
 * struct addr is a plain value: parsing fills every field (unused ones are 0,
 * fd is -1 unless kind is ADDR_FD), so two parses of one address compare
 * equal field by field. Every fd returned is close-on-exec and belongs to the
 * caller; for fd:N the caller already owns N.
 */
#ifndef EFS_TRANSPORT_H
#define EFS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

/* Enough for the text form of any valid address, with its NUL. */
#define ADDR_TEXT_MAX 128

enum addr_kind { ADDR_VSOCK, ADDR_UNIX, ADDR_FD, ADDR_NITRO };

/* The port enclaved listens on in an enclave image (contrib/nitro). */
#define NITRO_DEFAULT_PORT 5005
#define NITRO_NAME_MAX 64

struct addr {
	enum addr_kind kind;
	uint32_t cid;   /* vsock: the CID, or VMADDR_CID_ANY (-1U) for "vsock:PORT" */
	uint32_t port;  /* vsock, nitro */
	char path[108]; /* unix: NUL-terminated, fits sun_path; nitro: the name */
	int fd;         /* fd: */
};

/* Parses an address. On error returns -EINVAL and writes into err[errsz] a
 * message that names what is wrong, e.g. "vsock port '70000x' is not a number
 * from 0 to 4294967295". err may be NULL. */
int addr_parse(const char *s, struct addr *a, char *err, size_t errsz);
/* Writes the canonical text form; addr_parse() of it gives back *a.
 * Returns 0, -EINVAL (not a valid address) or -ENOSPC. */
int addr_format(const struct addr *a, char *out, size_t outsz);

/* Connects a stream socket. vsock:PORT (any CID) cannot be connected to:
 * -EINVAL. fd:N checks that N is an open stream socket (-EBADF, -ENOTSOCK,
 * -EPROTOTYPE), sets close-on-exec on it and returns N. Returns the fd or -errno. */
int transport_connect(const struct addr *a);

/* Finds the CID of the running enclave named name ("" = the only one). Returns
 * 0 or -errno with a reason in why. */
typedef int (*transport_nitro_resolver)(const char *name, uint32_t *cid, char *why, size_t whylen);
/* Registers the resolver transport_connect() uses for nitro: addresses (none:
 * they fail with -EAFNOSUPPORT). */
void transport_set_nitro_resolver(transport_nitro_resolver fn);
/* The reason the calling thread's last transport_connect() to a nitro:
 * address could not resolve it, or "" (thread-local). */
const char *transport_connect_why(void);
/* Reads back a vsock socket's flow-control buffer (SO_VM_SOCKETS_BUFFER_SIZE)
 * into *size. Returns 0, -ENOTSOCK-like errors, or -EAFNOSUPPORT for a socket
 * that is not vsock. */
int transport_vsock_buffer(int fd, uint64_t *size);
/* Ends a stream without losing what the peer has not read yet: half-closes
 * (SHUT_WR), reads and discards until the peer closes, at most max_ms and
 * 16 MiB, then closes. A full close with unread data resets the connection
 * on vsock before the peer reads it. Always closes fd. */
void transport_close_drain(int fd, int max_ms);
/* Listens with a backlog of 16. unix: creates the socket file mode 0600; an
 * existing socket file nobody listens on is replaced, a live one gives
 * -EADDRINUSE (its listener sees the probe as one empty connection), and
 * anything else at the path -EEXIST (and is left alone).
 * fd: gives -EOPNOTSUPP (it is already a connection; serve it directly). */
int transport_listen(const struct addr *a);
/* Accepts one connection, retrying EINTR and ECONNABORTED. */
int transport_accept(int lfd);
/* Best-effort tuning of a connected stream for bulk transfer: 4 MiB send and
 * receive buffers, or as much as the system permits. Returns 0 or -errno. */
int transport_tune(int fd);

#endif
