/* SPDX-License-Identifier: MIT */
/* backd_systemd.c: pvkit-backd's side of systemd's protocols. */
#ifndef PVK_BACKD_SYSTEMD_H
#define PVK_BACKD_SYSTEMD_H

#include <stdbool.h>

/* Send @msg ("READY=1", "STATUS=...", "STOPPING=1") to $NOTIFY_SOCKET:
 * 1 sent, 0 not under systemd, -errno. */
int backd_sd_notify(const char *msg);
/* Is stderr the journal's stream ($JOURNAL_STREAM)? */
bool backd_sd_journal(void);
/* A bus log function (pvk_log_fn) for the journal: "<prio>line". */
void backd_sd_log(void *arg, const char *line);

#endif
