/* SPDX-License-Identifier: MIT */
/*
 * pvkit/sim.h -- control of pvkit-simd, the simulated hypervisor: the
 * service, its domains, and what tests need to look at (grant entries).
 * Part of libpvkit-hv (pkg-config pvkit-hv).
 * Drivers never use this: they reach the simulator through pvkit/hv.h,
 * whose `xen` implementation runs on it unchanged.
 *
 * State directory: @dir if given, else $PVKIT_SIM_DIR, else
 * PVK_SIM_DEFAULT_DIR.  It holds simd.sock (the control socket),
 * xenstored/socket (dom0's xenstore), dom<N>/xenbus.sock (guest N's
 * xenstore, served by the domain's supervisor) and the logs.
 *
 * A process belongs to the domain whose supervisor it descends from, and
 * to domain 0 otherwise; $PVKIT_DOMID, when set, must agree (-EACCES).
 *
 * Conventions: >= 0 success, -errno failure; nothing here prints.  A
 * struct pvk_sim is one connection; use it from one thread at a time, and
 * not across fork().
 */
#ifndef PVKIT_SIM_H
#define PVKIT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_SIM_DEFAULT_DIR "/run/pvkit-sim"
#define PVK_SIM_NAME_MAX 64

struct pvk_sim;

/* Resolve the state directory into @buf; -ENAMETOOLONG. */
int pvk_sim_dir(char *buf, size_t len, const char *dir);

/*
 * Connect to the simulator in @dir (NULL: see above).  -ENOENT: no
 * simulator there; -ECONNREFUSED: a stale socket (left by a pvkit-simd
 * that crashed; `pvkit sim status` removes it); -EACCES: $PVKIT_DOMID
 * names another domain than this process's, or this is a guest's process
 * that outlived its domain; -EPERM: the simulator belongs to another user
 * (only its uid and root may connect); -EPROTONOSUPPORT: a pvkit-simd of
 * another pvkit version; -EMFILE: this domain has too many connections.
 */
int pvk_sim_open(struct pvk_sim **sim, const char *dir);
void pvk_sim_close(struct pvk_sim *sim);
uint32_t pvk_sim_domid(const struct pvk_sim *sim);
/* The connection's descriptor: polls readable (EOF) when pvkit-simd goes
 * away. */
int pvk_sim_fd(const struct pvk_sim *sim);
/* The path of this process's xenstore: xenstored's socket for domain 0,
 * the domain's xenbus socket otherwise. */
int pvk_sim_xenstore_path(const struct pvk_sim *sim, char *buf, size_t len);

struct pvk_sim_status {
	int simd_pid;
	int xenstored_pid;
	unsigned int ndomains;
	bool xenstore_ready;
};
int pvk_sim_status(struct pvk_sim *sim, struct pvk_sim_status *st);
/* Stop the simulator (domain 0 only): every domain is destroyed. */
int pvk_sim_shutdown(struct pvk_sim *sim);

struct pvk_sim_domain {
	uint32_t domid;
	bool dying; /* dead, but pages still mapped by others */
	int pid; /* its supervisor; 0 for domain 0 */
	char name[PVK_SIM_NAME_MAX];
	bool hvm; /* `pvkit domain create --hvm` */
	uint32_t vcpus; /* an HVM domain's vCPUs; 0 for a PV one */
};
/* All domains, by domid: *@doms is malloc'ed; returns the count.
 * -EPERM from a guest (as Xen's getdomaininfo). */
int pvk_sim_domain_list(struct pvk_sim *sim, struct pvk_sim_domain **doms);
/* A running domain by name or decimal id; -ESRCH if none (-EPERM from a
 * guest). */
int pvk_sim_domain_find(struct pvk_sim *sim, const char *name_or_id,
			uint32_t *domid);
/* Ask the domain's supervisor to end it (SIGTERM, SIGKILL after 2 s);
 * returns at once.  -EPERM for domain 0 or from a guest, -ESRCH. */
int pvk_sim_domain_destroy(struct pvk_sim *sim, uint32_t domid);

/*
 * Supervisor side (what `pvkit domain create` does).  The calling process
 * becomes domain @name's supervisor: the domain lives as long as this
 * connection and this process.  Names: [A-Za-z0-9._-], not starting with
 * a digit, < PVK_SIM_NAME_MAX; -EEXIST if taken.
 */
int pvk_sim_domain_create(struct pvk_sim *sim, const char *name,
			  uint32_t *domid);
/* Hand xenstore the domain's xenbus port (an unbound port for domain 0):
 * the toolstack writes /local/domain/<id> and introduces the domain.
 * *@ring is the domain's xenstore ring page (grant ref 1). */
int pvk_sim_domain_ready(struct pvk_sim *sim, uint32_t port, void **ring);

/* A grant entry of domain @domid as the hypervisor sees it (domain 0, or
 * the domain itself): GTF_* flags, and how many mappings pin it. */
int pvk_sim_grant_query(struct pvk_sim *sim, uint32_t domid, uint32_t ref,
			uint16_t *flags, unsigned int *pins);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_SIM_H */
