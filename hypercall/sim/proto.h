/* SPDX-License-Identifier: MIT */
/*
 * proto.h -- private: the control protocol between pvkit-simd and its
 * clients (libpvkit-hv's sim provider, libpvkit-xensim.so, the pvkit CLI).
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET connection per process, at
 * <state dir>/simd.sock.  Every request is exactly one struct pvk_simp_req
 * datagram (any other size is refused with -EBADMSG), answered by exactly
 * one struct pvk_simp_rep, in order.  File descriptors travel with
 * SCM_RIGHTS: wake-up pipes from client to daemon, memfds (and others'
 * wake-up pipes) from daemon to client.
 * The daemon takes the caller's pid from SO_PEERCRED, never from the
 * message.
 *
 * The daemon only brokers set-up.  The data path is shared memory:
 *
 *   grants      each (granter, grantee, read-only?) pair has a pool memfd of
 *               PVK_SIMP_NR_GRANTS pages; the page of grant ref R is page R
 *               of the pool the ref was granted in (frame == ref).  The
 *               grant entries (grant_entry_v1_t) live in a per-domain
 *               memfd that only the daemon writes; clients get it
 *               read-only (grant copy validates entries locally).  A
 *               grantee of a read-only grant only ever receives an
 *               O_RDONLY descriptor of the read-only pool, so the kernel
 *               enforces read-only.
 *
 *               Copy pins: the read-write pool memfd of (granter, grantee)
 *               has PVK_SIMP_COPY_PINS_SIZE more bytes after its pages, one
 *               16-bit counter per ref.  Grant copy (done by the grantee,
 *               locally) increments the ref's counter, then reads and
 *               validates the entry, copies, and decrements; the daemon
 *               clears an entry first, then reads the counter, and puts the
 *               entry back (EBUSY, or ends it later) if it was non-zero.
 *               Both sides use sequentially consistent atomics, so either
 *               the copy sees the entry gone or the daemon sees the copy:
 *               access never ends under a copy, as with Xen's pin.
 *
 *   evtchn      each domain has an "evtchn page" memfd: one 64-bit word per
 *               port, seq << 32 | flags (PVK_SIMP_EV_*).  seq changes, by
 *               the daemon only, whenever the port's binding changes; a
 *               notifier sets PENDING with a compare-and-swap that also
 *               checks the seq it learned at bind time, so a notify racing
 *               with a close or a re-bind is dropped rather than delivered
 *               to the new binding.  The wake-up is a one-byte write to
 *               the pipe of the handle owning the port (EVTCHN_OPEN sends
 *               its write end; the handle polls the read end), done by
 *               the notifier itself through an open file of its own
 *               (re-opened through /proc/self/fd, O_NONBLOCK), and with a
 *               read end of its own held so that the write can never
 *               raise SIGPIPE.  Not an eventfd: its O_NONBLOCK is shared
 *               with the owner, who could clear it and fill the counter
 *               to block every notifier in write().
 *
 *   HVM         an HVM domain (DOMAIN_CREATE with PVK_SIMP_CREATE_HVM) has
 *               RAM (a memfd the daemon owns), vCPUs, at most
 *               PVK_SIMP_HVM_SERVERS ioreq servers and 16 ISA lines.  Its
 *               "hvm page" (struct pvk_simp_hvm_page, a memfd only the
 *               daemon writes; the guest maps it read-only) publishes the
 *               servers and their ranges under a seqlock (gen odd while the
 *               daemon writes).  A server's ioreq memfd is two pages, as
 *               Xen's ioreq-server resource: frame 0 the buffered page,
 *               frame 1 the synchronous one (struct pvk_ioreq per vCPU);
 *               the device model (dom0) and the guest's own process (which
 *               plays the hypervisor for its vCPUs) both map it.  Each
 *               vCPU of each server has a port in the guest, unbound for
 *               dom0, which the device model binds; HVM_VCPU makes a guest
 *               handle the owner of vCPU N's ports.  So an access is: the
 *               guest writes the slot, notifies, waits on its port; the
 *               device model answers and notifies back -- the daemon is not
 *               on that path.  A server destroyed (or whose device model
 *               went away) is cleared from the hvm page (uid 0, gen
 *               bumped) and its guest ports raised, which wakes a vCPU
 *               waiting on it: the access completes with all-ones.
 */
#ifndef PVK_HYPERCALL_SIM_PROTO_H
#define PVK_HYPERCALL_SIM_PROTO_H

#include <stdint.h>

#define PVK_SIMP_VERSION 3u
#define PVK_SIMP_SOCK "simd.sock"
#define PVK_SIMP_PAGE 4096u
#define PVK_SIMP_NR_GRANTS 32768u /* per domain; pools are this many pages */
#define PVK_SIMP_NR_PORTS 4096u /* per domain; port 0 is never valid */
#define PVK_SIMP_COPY_PINS_SIZE (PVK_SIMP_NR_GRANTS * 2u) /* uint16 each */
#define PVK_SIMP_NR_WAITERS 1024u /* evtchn handles per domain */
#define PVK_SIMP_MAX_REFS 256u /* grant refs per request */
#define PVK_SIMP_NAME_MAX 64u
#define PVK_SIMP_LIST_MAX 24u /* domains per DOMAIN_LIST reply */
#define PVK_SIMP_NO_DOMID 0xFFFFFFFFu

/*
 * The evtchn page: PVK_SIMP_NR_PORTS 64-bit port words, then
 * PVK_SIMP_NR_WAITERS 32-bit waiter words, one per handle (its "slot"):
 * non-zero while the handle's owner sleeps in a futex inside
 * xenevtchn_pending() (a handle whose fd was never asked for); a notifier
 * that finds it set wakes the futex instead of sending the wake-up.
 */
#define PVK_SIMP_EV_PAGE_SIZE \
	(PVK_SIMP_NR_PORTS * 8u + PVK_SIMP_NR_WAITERS * 4u)

/* Evtchn port word: low 32 bits flags, high 32 bits binding seq. */
#define PVK_SIMP_EV_PENDING 0x1ull
#define PVK_SIMP_EV_MASKED 0x2ull
#define PVK_SIMP_EV_SEQ(w) ((uint32_t)((w) >> 32))

enum pvk_simp_op {
	PVK_SIMP_HELLO = 1,
	PVK_SIMP_STATUS,
	PVK_SIMP_SHUTDOWN,
	PVK_SIMP_DOMAIN_CREATE,
	PVK_SIMP_DOMAIN_READY,
	PVK_SIMP_DOMAIN_LIST,
	PVK_SIMP_DOMAIN_DESTROY,
	PVK_SIMP_EVTCHN_OPEN,
	PVK_SIMP_EVTCHN_CLOSE,
	PVK_SIMP_EVTCHN_ALLOC_UNBOUND,
	PVK_SIMP_EVTCHN_BIND_INTERDOMAIN,
	PVK_SIMP_EVTCHN_BIND_VIRQ,
	PVK_SIMP_EVTCHN_UNBIND,
	PVK_SIMP_EVTCHN_PEER,
	PVK_SIMP_GNT_SHARE,
	PVK_SIMP_GNT_END,
	PVK_SIMP_GNT_MAP,
	PVK_SIMP_GNT_UNMAP,
	PVK_SIMP_GNT_TABLE,
	PVK_SIMP_GNT_QUERY,
	PVK_SIMP_HVM_INFO, /* guest: fds [RAM, hvm page (ro), irq pipe] */
	PVK_SIMP_HVM_VCPU, /* guest: handle becomes vCPU's (u.hvm.handle) */
	PVK_SIMP_HVM_SERVER_PAGE, /* guest: fd: server u.hvm.index's page */
	PVK_SIMP_IOREQ_CREATE, /* dom0: u.hvm.{domid, flags} -> id */
	PVK_SIMP_IOREQ_MAP, /* dom0: fd: ioreq memfd; rep: ports */
	PVK_SIMP_IOREQ_RANGE, /* dom0: u.hvm.{type, start, end, flags} */
	PVK_SIMP_IOREQ_STATE, /* dom0: u.hvm.flags: enabled */
	PVK_SIMP_IOREQ_DESTROY,
	PVK_SIMP_ISA_IRQ, /* dom0: u.hvm.{index: line, flags: level} */
	PVK_SIMP_FOREIGN_RAM, /* dom0: fd: the guest's RAM; rep: size */
	PVK_SIMP_OP_MAX,
};

/* Port states, as EVTCHNSTAT_* (event_channel.h). */
enum pvk_simp_port_state {
	PVK_SIMP_PORT_CLOSED = 0,
	PVK_SIMP_PORT_UNBOUND = 1,
	PVK_SIMP_PORT_INTERDOMAIN = 2,
	PVK_SIMP_PORT_VIRQ = 4,
};

/*
 * GNT_END flags.  Without DEFER, ending access to an entry a grantee still
 * maps fails with -EBUSY and nothing changes (Xen's
 * gnttab_end_foreign_access_ref).  With DEFER, such an entry is handed to
 * the hypervisor and ends at its last unmap, as Linux's gntalloc does when
 * its pages are unmapped: the caller no longer owns the ref either way.
 */
#define PVK_SIMP_GNT_END_DEFER 0x1u

/* DOMAIN_LIST entry flags. */
#define PVK_SIMP_DOM_DYING 0x1u
#define PVK_SIMP_DOM_SHUTDOWN 0x2u
#define PVK_SIMP_DOM_HVM 0x4u

/* DOMAIN_CREATE flags. */
#define PVK_SIMP_CREATE_HVM 0x1u

/* HVM limits and layout (see "HVM" above). */
#define PVK_SIMP_HVM_SERVERS 8u /* per guest, as Xen */
#define PVK_SIMP_HVM_RANGES 64u /* per server */
#define PVK_SIMP_HVM_VCPUS 32u
#define PVK_SIMP_HVM_MEM_MAX 65536u /* MiB */
#define PVK_SIMP_IOREQ_PAGES 2u /* buffered, synchronous */

/* IOREQ_RANGE type: Xen's XEN_DMOP_IO_RANGE_*; flags 1: map, 0: unmap. */
#define PVK_SIMP_RANGE_PORT 0u
#define PVK_SIMP_RANGE_MMIO 1u
#define PVK_SIMP_RANGE_PCI 2u
/* IOREQ_CREATE flags: a buffered page and port too. */
#define PVK_SIMP_IOREQ_BUF 0x1u

struct pvk_simp_hvm_range {
	uint64_t start, end; /* inclusive */
	uint32_t type; /* PVK_SIMP_RANGE_* */
	uint32_t pad;
};

struct pvk_simp_hvm_server {
	uint64_t uid; /* 0: no server in this slot; never reused */
	uint32_t id; /* the ioservid */
	uint32_t enabled;
	uint32_t nr_ranges;
	uint32_t pad;
	uint32_t port[PVK_SIMP_HVM_VCPUS]; /* the guest's port per vCPU */
	struct pvk_simp_hvm_range range[PVK_SIMP_HVM_RANGES];
};

struct pvk_simp_hvm_page {
	uint32_t gen; /* odd while the daemon writes */
	uint32_t nr_vcpus;
	uint64_t ram_size;
	uint32_t lines; /* ISA lines high, bit N: IRQ N */
	uint32_t pad;
	struct pvk_simp_hvm_server srv[PVK_SIMP_HVM_SERVERS];
};

struct pvk_simp_req {
	uint32_t op;
	uint32_t version;
	union {
		struct {
			uint32_t domid; /* PVKIT_DOMID, or PVK_SIMP_NO_DOMID */
		} hello;
		struct {
			char name[PVK_SIMP_NAME_MAX];
			uint32_t flags; /* PVK_SIMP_CREATE_* */
			uint32_t memory_mib; /* HVM: RAM */
			uint32_t vcpus; /* HVM */
		} create;
		struct {
			uint32_t port; /* the guest's xenbus port (for dom0) */
		} ready;
		struct {
			uint32_t first;
		} list;
		struct {
			uint32_t domid;
		} destroy;
		struct {
			uint32_t handle;
			uint32_t domid; /* remote */
			uint32_t port; /* remote port, local port or virq */
		} ev;
		struct {
			uint32_t domid; /* peer (share) or granter (map) */
			uint32_t count;
			uint32_t writable;
			uint32_t flags; /* GNT_END: PVK_SIMP_GNT_END_* */
			uint32_t refs[PVK_SIMP_MAX_REFS];
		} gnt;
		struct {
			uint32_t domid; /* the guest (dom0's requests) */
			uint32_t id; /* the server */
			uint32_t index; /* server slot, vCPU or ISA line */
			uint32_t handle; /* HVM_VCPU: an evtchn handle */
			uint32_t type; /* IOREQ_RANGE */
			uint32_t flags;
			uint64_t start, end;
			uint64_t uid; /* HVM_SERVER_PAGE: the slot's server */
		} hvm;
	} u;
};

struct pvk_simp_dominfo {
	uint32_t domid;
	uint32_t flags; /* PVK_SIMP_DOM_* */
	int32_t pid; /* supervisor, 0 for domain 0 */
	uint32_t vcpus; /* HVM: vCPUs; 0 otherwise */
	char name[PVK_SIMP_NAME_MAX];
};

struct pvk_simp_rep {
	int32_t err; /* 0 or -errno */
	uint32_t nfds; /* descriptors attached */
	union {
		struct {
			uint32_t domid;
			uint32_t nr_ports;
			uint64_t uid; /* unique per domain, never reused */
		} hello; /* fd: own evtchn page; also DOMAIN_CREATE */
		struct {
			int32_t simd_pid;
			int32_t xenstored_pid;
			uint32_t ndomains;
			uint32_t xenstore_ready;
		} status;
		struct {
			uint32_t count;
			uint32_t more;
			struct pvk_simp_dominfo d[PVK_SIMP_LIST_MAX];
		} list;
		struct {
			uint32_t handle; /* EVTCHN_OPEN */
			uint32_t port; /* bind/alloc */
			uint32_t slot; /* EVTCHN_OPEN: its waiter word */
		} ev;
		struct {
			/* EVTCHN_PEER.  fds, when state is INTERDOMAIN and the
			 * peer port has an owner: [write end of the peer
			 * handle's wake-up pipe, peer page]. */
			uint32_t state;
			uint32_t seq; /* our port's */
			uint32_t peer_domid;
			uint32_t peer_port;
			uint32_t peer_seq;
			uint32_t peer_slot; /* the peer handle's waiter word */
			uint64_t peer_uid;
		} peer;
		struct {
			/* GNT_SHARE: refs out, fd: the pool (read-write).
			 * GNT_MAP: frames out; fds: pool of read-write grants
			 * if any, then pool of read-only grants if any;
			 * which[i] says 0 (rw pool) or 1 (ro pool). */
			uint32_t count;
			uint32_t pad;
			uint64_t uid; /* the granter's */
			uint32_t refs[PVK_SIMP_MAX_REFS];
			uint8_t which[PVK_SIMP_MAX_REFS];
		} gnt;
		struct {
			/* GNT_TABLE: fds [table (ro), rw pool, ro pool]. */
			uint32_t nr_grants;
			uint32_t pad;
			uint64_t uid;
		} table;
		struct {
			uint16_t flags;
			uint16_t domid;
			uint32_t frame;
			uint32_t pins;
		} query;
		struct {
			/* IOREQ_CREATE: id.  IOREQ_MAP: nr_vcpus, buf_port.
			 * HVM_INFO, FOREIGN_RAM: ram_size, nr_vcpus. */
			uint32_t id;
			uint32_t nr_vcpus;
			uint32_t buf_port;
			uint32_t pad;
			uint64_t ram_size;
			uint64_t uid; /* the domain's */
		} hvm;
	} u;
};

#endif /* PVK_HYPERCALL_SIM_PROTO_H */
