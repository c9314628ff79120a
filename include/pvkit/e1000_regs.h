/* SPDX-License-Identifier: MIT */
/*
 * pvkit/e1000_regs.h -- the Intel 8254x (82540EM) registers, bits and
 * legacy descriptors that pvkit's emulated e1000 (pvkit/dm_e1000.h) and
 * its guest driver (pvkit/e1000_guest.h) share; values from Intel's
 * PCI/PCI-X Family of Gigabit Ethernet Controllers Software Developer's
 * Manual.  Freestanding, header-only (libpvkit-back and libpvkit-front).
 */
#ifndef PVKIT_E1000_REGS_H
#define PVKIT_E1000_REGS_H

/* Registers (byte offsets in the memory BAR). */
#define PVK_E1000_CTRL 0x0000
#define PVK_E1000_STATUS 0x0008
#define PVK_E1000_EECD 0x0010
#define PVK_E1000_EERD 0x0014
#define PVK_E1000_MDIC 0x0020
#define PVK_E1000_ICR 0x00c0
#define PVK_E1000_ICS 0x00c8
#define PVK_E1000_IMS 0x00d0
#define PVK_E1000_IMC 0x00d8
#define PVK_E1000_RCTL 0x0100
#define PVK_E1000_TCTL 0x0400
#define PVK_E1000_RDBAL 0x2800
#define PVK_E1000_RDBAH 0x2804
#define PVK_E1000_RDLEN 0x2808
#define PVK_E1000_RDH 0x2810
#define PVK_E1000_RDT 0x2818
#define PVK_E1000_TDBAL 0x3800
#define PVK_E1000_TDBAH 0x3804
#define PVK_E1000_TDLEN 0x3808
#define PVK_E1000_TDH 0x3810
#define PVK_E1000_TDT 0x3818
#define PVK_E1000_STATS 0x4000 /* .. 0x40ff, read clears */
#define PVK_E1000_MPC 0x4010
#define PVK_E1000_GPRC 0x4074
#define PVK_E1000_BPRC 0x4078
#define PVK_E1000_MPRC 0x407c
#define PVK_E1000_GPTC 0x4080
#define PVK_E1000_GORCL 0x4088
#define PVK_E1000_GOTCL 0x4090
#define PVK_E1000_RNBC 0x40a0
#define PVK_E1000_ROC 0x40ac
#define PVK_E1000_TORL 0x40c0
#define PVK_E1000_TOTL 0x40c8
#define PVK_E1000_TPR 0x40d0
#define PVK_E1000_TPT 0x40d4
#define PVK_E1000_MPTC 0x40f0
#define PVK_E1000_BPTC 0x40f4
#define PVK_E1000_MTA 0x5200
#define PVK_E1000_RAL 0x5400 /* RAL n at + 8n, RAH n at + 8n + 4 */
#define PVK_E1000_TIPG 0x0410
#define PVK_E1000_RAL0 0x5400
#define PVK_E1000_RAH0 0x5404

/* Register bits. */
#define PVK_E1000_CTRL_FD (1u << 0)
#define PVK_E1000_CTRL_SLU (1u << 6)
#define PVK_E1000_CTRL_RST (1u << 26)
#define PVK_E1000_CTRL_PHY_RST (1u << 31)
#define PVK_E1000_STATUS_FD (1u << 0)
#define PVK_E1000_STATUS_LU (1u << 1)
#define PVK_E1000_STATUS_1000 (2u << 6)
#define PVK_E1000_EECD_SK (1u << 0)
#define PVK_E1000_EECD_CS (1u << 1)
#define PVK_E1000_EECD_DI (1u << 2)
#define PVK_E1000_EECD_DO (1u << 3)
#define PVK_E1000_EECD_REQ (1u << 6)
#define PVK_E1000_EECD_GNT (1u << 7)
#define PVK_E1000_EECD_PRES (1u << 8)
#define PVK_E1000_EERD_START (1u << 0)
#define PVK_E1000_EERD_DONE (1u << 4)
#define PVK_E1000_MDIC_OP_READ (2u << 26)
#define PVK_E1000_MDIC_READY (1u << 28)
#define PVK_E1000_MDIC_ERROR (1u << 30)
#define PVK_E1000_ICR_TXDW (1u << 0)
#define PVK_E1000_ICR_TXQE (1u << 1)
#define PVK_E1000_ICR_LSC (1u << 2)
#define PVK_E1000_ICR_RXDMT0 (1u << 4)
#define PVK_E1000_ICR_RXO (1u << 6)
#define PVK_E1000_ICR_RXT0 (1u << 7)
#define PVK_E1000_RCTL_EN (1u << 1)
#define PVK_E1000_RCTL_UPE (1u << 3)
#define PVK_E1000_RCTL_MPE (1u << 4)
#define PVK_E1000_RCTL_LPE (1u << 5)
#define PVK_E1000_RCTL_BAM (1u << 15)
#define PVK_E1000_RCTL_BSEX (1u << 25)
#define PVK_E1000_RCTL_SECRC (1u << 26)
#define PVK_E1000_TCTL_EN (1u << 1)
#define PVK_E1000_RAH_AV (1u << 31)
#define PVK_E1000_TCTL_PSP (1u << 3)
#define PVK_E1000_TCTL_CT (0x0fu << 4)
#define PVK_E1000_TCTL_COLD (0x40u << 12)
#define PVK_E1000_TIPG_COPPER (10u | 8u << 10 | 6u << 20)

/* Descriptor command and status bits. */
#define PVK_E1000_TXD_EOP (1u << 0)
#define PVK_E1000_TXD_IC (1u << 2)
#define PVK_E1000_TXD_RS (1u << 3)
#define PVK_E1000_TXD_TSE (1u << 2) /* extended data descriptors */
#define PVK_E1000_TXD_DEXT (1u << 5)
#define PVK_E1000_TXD_STA_DD (1u << 0)
#define PVK_E1000_RXD_STA_DD (1u << 0)
#define PVK_E1000_RXD_STA_EOP (1u << 1)
#define PVK_E1000_RXD_ERR_RXE (1u << 7)
#define PVK_E1000_TXD_IFCS (1u << 1)

/* The EEPROM. */
#define PVK_E1000_EEPROM_WORDS 64
#define PVK_E1000_EEPROM_SUM 0xbaba

#endif /* PVKIT_E1000_REGS_H */
