#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad input to every call, and garbage on the control socket, while
# another pair of domains keeps working.
. "$(dirname "$0")/lib.sh"

t_start
back=$(t_detach back "$CLIENT" pp-back)
"$CLIENT" garbage || t_fail "garbage from dom0"
"$PVKIT" domain create junk -- "$CLIENT" garbage || t_fail "guest garbage"
"$CLIENT" badinput || t_fail "dom0 bad input"
"$PVKIT" domain create bad -- "$CLIENT" badinput || t_fail "guest bad input"
"$PVKIT" domain create front -- "$CLIENT" pp-front "$back" 1000 ||
	t_fail "the bystanders stopped working"
# A guest that makes its event-channel fd blocking and full cannot make
# its peers' notifies block.
t_detach evil "$CLIENT" evil-evtchn >/dev/null
XENSTORED_PATH=$DOM0_XS "$CLIENT" notify-evil evil ||
	t_fail "a hostile guest blocked dom0's notify"
# Nor, by closing it, make them fail (or die of SIGPIPE).
t_detach evil2 "$CLIENT" evil-evtchn close >/dev/null
XENSTORED_PATH=$DOM0_XS "$CLIENT" notify-evil evil2 ||
	t_fail "a hostile guest made dom0's notify fail"
