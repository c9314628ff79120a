# SPDX-License-Identifier: MIT
#
# Cell 26: can this lane run an HVM guest at all?  pvkit-dm (issue 10)
# serves emulated devices through ioreq servers, which only HVM-container
# guests (HVM, PVH) have.  Under QEMU's TCG, Xen sees hardware
# virtualization only if the emulated CPU offers it: run the lane with
# XEN_QEMU_CPU=qemu64,+svm (make test-xen XEN_CELLS=26 XEN_QEMU_CPU=...).
# The cell reports what Xen says (xl info: virt_caps, xen_caps) and, when
# it offers hvm, boots the domU's own kernel as a PVH guest (no device
# model needed) and checks that it runs; without hvm it skips, saying so.
CELL_TIMEOUT=240

cell_dom0() {
	local caps xcaps i st
	caps=$(xl info | sed -n 's/^virt_caps *: *//p')
	xcaps=$(xl info | sed -n 's/^xen_caps *: *//p')
	echo "xl info: virt_caps: $caps"
	echo "xl info: xen_caps: $xcaps"
	xl dmesg | grep -iE 'svm|vmx|hvm|hap' | head -n 20
	case " $caps " in
	*" hvm "*) ;;
	*) skip "Xen offers no HVM here (virt_caps: ${caps:-none}; CPU ${XEN_QEMU_CPU:-qemu64})" ;;
	esac
	# QEMU's qemu64 model has SVM but no NPT: without HAP an HVM guest
	# needs shadow paging, which Debian's Xen 4.17 leaves out ("neither
	# hap nor shadow paging available").
	case " $caps " in
	*" hap "*) ;;
	*) skip "Xen has SVM here but no HAP (virt_caps: $caps), and this Xen has no shadow paging: run with XEN_QEMU_CPU=qemu64,+svm,+npt" ;;
	esac
	cat >/tmp/pvh.cfg <<EOC
name = "pvk-pvh"
type = "pvh"
kernel = "/boot/domu-vmlinux"
ramdisk = "/boot/domu.cpio"
extra = "console=hvc0"
memory = 96
vcpus = 1
on_crash = "preserve"
EOC
	# Under TCG with SVM and NPT, xl create of a PVH guest did not
	# return in 240 s on the build machine: give it 120 s and report.
	timeout 120 xl create /tmp/pvh.cfg
	case $? in
	0) ;;
	124) skip "xl create of a PVH guest did not return in 120 s (CPU ${XEN_QEMU_CPU:-qemu64})" ;;
	*) fail "xl create of a PVH guest failed" ;;
	esac
	# Its /init writes data/ready like the PV domU's.
	i=0
	until st=$(xenstore-read "/local/domain/$(xl domid pvk-pvh)/data/ready" 2>/dev/null); do
		i=$((i + 1))
		[ $i -lt 1500 ] || {
			xl list
			tail -n 40 /var/log/xen/console/guest-pvk-pvh.log 2>/dev/null
			fail "the PVH guest did not reach its /init in 150 s"
		}
		sleep 0.1
	done
	echo "PVH guest up: data/ready = $st"
	xl list
}

cell_cleanup() {
	xl destroy pvk-pvh 2>/dev/null
	rm -f /tmp/pvh.cfg
}
