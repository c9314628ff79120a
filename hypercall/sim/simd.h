/* SPDX-License-Identifier: MIT */
/*
 * simd.h -- private to pvkit-simd: its state and the pieces shared between
 * simd.c (service, connections, domains), simd_res.c (event channels,
 * grant tables) and simd_ts.c (xenstored and the toolstack thread).
 *
 * Threads: everything here belongs to the main thread, except the
 * toolstack thread in simd_ts.c, which only talks to xenstored and sees
 * the main thread's state through struct simd_job messages.  The main
 * thread never blocks on xenstored: xenstored itself calls into pvkit-simd
 * (grant maps, domain info), so a blocking call would deadlock.
 */
#ifndef PVK_HYPERCALL_SIM_SIMD_H
#define PVK_HYPERCALL_SIM_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "proto.h"

struct simd_conn;

struct simd_handle {
	uint32_t id;
	uint32_t slot; /* waiter word in its domain's evtchn page */
	int efd; /* our own write end of the client's wake-up pipe */
	struct simd_conn *conn;
	struct simd_handle *next;
};

struct simd_port {
	uint8_t state; /* enum pvk_simp_port_state */
	uint32_t rdom; /* remote domain (UNBOUND, INTERDOMAIN) */
	uint32_t rport;
	uint32_t virq;
	struct simd_handle *h; /* owner; NULL: none (e.g. dom0's xsd port) */
	/* An ioreq server's vCPU port in its guest (simd_hvm.c): outlives
	 * its owner handle, and the guest cannot unbind it. */
	bool hvm;
};

struct simd_gmeta {
	uint16_t pins_r, pins_w; /* mappings by grantees */
	uint32_t owner; /* conn id that shared it, 0: the domain */
	bool used; /* allocated */
	bool orphan; /* owner gone while mapped: free at last unmap */
	bool ro_pool; /* granted from the read-only pool */
};

struct simd_pool {
	uint32_t peer;
	bool ro;
	int fd_rw, fd_ro;
	uint16_t *copy_pins; /* read-write pools: the grantee's (proto.h) */
	struct simd_pool *next;
};

enum simd_dom_state { SIMD_DOM_RUNNING, SIMD_DOM_DYING };

struct simd_hvm; /* simd_hvm.c */

struct simd_dom {
	uint32_t domid;
	uint64_t uid;
	char name[PVK_SIMP_NAME_MAX];
	enum simd_dom_state state;
	pid_t pid; /* supervisor (0 for domain 0) */
	int pidfd;
	struct simd_conn *kernel; /* the supervisor's connection */
	double kill_at; /* destroy: SIGKILL the supervisor after this */
	bool released; /* toolstack removed it from xenstore */

	int ev_fd;
	uint64_t *ev_page; /* PVK_SIMP_NR_PORTS words, then waiters */
	struct simd_port *ports;
	uint8_t slot_used[PVK_SIMP_NR_WAITERS];

	int gt_fd, gt_ro_fd;
	grant_entry_v1_t *gt;
	struct simd_gmeta *gmeta;
	uint32_t npinned; /* entries with pins */
	bool ends_deferred; /* orphans a grant copy kept: retried */
	uint32_t ref_hint;
	uint32_t ref_top; /* no entry at or above was ever shared */
	struct simd_pool *pools;

	uint32_t xenbus_port;
	struct simd_hvm *hvm; /* NULL: not an HVM domain */
	struct simd_dom *next; /* sorted by domid */
};

struct simd_map {
	uint32_t granter;
	uint64_t uid;
	uint32_t ref;
	bool writable;
};

struct simd_conn {
	uint32_t id;
	int fd;
	pid_t pid;
	int pidfd;
	bool hello;
	uint32_t domid;
	struct simd_handle *handles;
	uint32_t next_handle;
	struct simd_map *maps;
	size_t nmaps, capmaps;
	unsigned int bad;
	struct simd_conn *next;
};

struct simd {
	const char *dir;
	int lock_fd;
	int listen_fd;
	int epfd;
	int sig_fd;
	int job_efd; /* toolstack -> main: jobs done */
	pid_t xsd_pid;
	int xsd_pidfd;
	int ready_fd; /* CLI's pipe: "ok" once xenstore is up */
	int reserve_fd; /* given up to refuse a connection at EMFILE */
	bool fd_starved; /* logged; cleared once an accept works again */
	bool nnp; /* we run with no_new_privs: cannot spot escapees */
	int xsd_status; /* wait status, once reaped */
	bool xs_ready;
	bool stopping;
	uint32_t xsd_dom0_port; /* /proc/xen/xsd_port for xenstored */
	struct simd_dom *doms;
	uint32_t next_domid;
	uint64_t next_uid;
	struct simd_conn *conns;
	uint32_t next_conn;
	const char *xenstored; /* binary */
	const char *xensim; /* preload library */
};

extern struct simd simd;

/* Connections a guest domain may hold (its processes, each with one);
 * domain 0 is not limited. */
#define SIMD_MAX_CONNS_PER_DOM 256u

/* A handler's return value: the reply is sent later. */
#define SIMD_DEFERRED 1000

void simd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double simd_now(void);

/* pvkit-simd's main() (simd_main.c calls it; fuzz-simctl does not). */
int simd_main(int argc, char **argv);
/* A client connected on @fd (non-blocking) from process @pid: NULL (and
 * @fd closed) if it cannot be served. */
struct simd_conn *simd_conn_new(int fd, pid_t pid);
/* Take one request from @c and answer it (or disconnect it; then @c is
 * freed). */
void simd_conn_handle(struct simd_conn *c);

struct simd_dom *simd_dom_find(uint32_t domid);
struct simd_conn *simd_conn_find(uint32_t id);
int simd_dom_new(uint32_t domid, const char *name, struct simd_dom **out);
void simd_dom_maybe_reap(struct simd_dom *d);

/* simd_res.c */
int simd_res_dom_init(struct simd_dom *d);
void simd_res_dom_fini(struct simd_dom *d);
void simd_res_dom_kill(struct simd_dom *d);
void simd_res_peer_gone(uint32_t peer);
/* Retry ends of access a grant copy held up (a timer's job). */
void simd_res_retry_ends(void);
/* A sealed memfd of @size bytes (it can neither shrink nor grow): fd or
 * -errno. */
int simd_memfd_sized(const char *name, size_t size);
void simd_res_conn_close(struct simd_conn *c);
void simd_virq_fire(uint32_t virq);
int simd_evtchn_alloc(struct simd_dom *d, struct simd_handle *h,
		      uint32_t remote);
/* Port primitives, for simd_hvm.c: a free port (-ENOSPC); a new binding
 * (seq bumped); raise (pending + wake its owner); close (the remote end of
 * an interdomain channel reverts to unbound). */
int simd_port_alloc(struct simd_dom *d);
void simd_port_rebind(struct simd_dom *d, uint32_t port, bool keep_flags);
void simd_port_raise(struct simd_dom *d, uint32_t port);
void simd_port_close(struct simd_dom *d, uint32_t port);
struct simd_handle *simd_handle_find(struct simd_conn *c, uint32_t id);
/* The guest's xenstore ring page: grant ref 1, page 1 of this fd. */
int simd_gnt_xenstore_fd(struct simd_dom *d, int *ring_fd);
/* Request handlers: fill @rep, put descriptors to send in @fds. */
int simd_res_handle(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds, int nfds_in,
		    const int *fds_in);

/* simd_hvm.c: HVM domains (RAM, vCPUs, ioreq servers, ISA lines). */
int simd_hvm_init(struct simd_dom *d, uint32_t memory_mib, uint32_t vcpus);
/* Its servers go (the domain died); then, at the end, everything. */
void simd_hvm_kill(struct simd_dom *d);
void simd_hvm_fini(struct simd_dom *d);
uint32_t simd_hvm_vcpus(const struct simd_dom *d);
/* Servers created by @c go; called before its handles close. */
void simd_hvm_conn_gone(struct simd_conn *c);
/* Handle @h of domain @d closes: its vCPU ports lose their owner. */
void simd_hvm_handle_gone(struct simd_dom *d, struct simd_handle *h);
bool simd_hvm_op(uint32_t op);
int simd_hvm_handle(struct simd_conn *c, const struct pvk_simp_req *req,
		    struct pvk_simp_rep *rep, int *fds);

/* simd_ts.c */
enum simd_job_type { SIMD_JOB_START, SIMD_JOB_INTRODUCE, SIMD_JOB_RELEASE };
struct simd_job {
	enum simd_job_type type;
	uint32_t domid;
	uint32_t port;
	uint32_t conn; /* to answer (INTRODUCE) */
	char name[PVK_SIMP_NAME_MAX];
	int result;
	struct simd_job *next;
};
int simd_ts_start(void);
void simd_ts_stop(void);
int simd_ts_post(const struct simd_job *job);
/* Completed jobs, oldest first; the caller frees each. */
struct simd_job *simd_ts_done(void);
int simd_xenstored_spawn(void);

#endif /* PVK_HYPERCALL_SIM_SIMD_H */
