"""The virtual PIV card: a sans-I/O SP 800-73-4 card (piv.VirtualCard) behind pcscd's vpcd driver
(vpcd.CardSocket), test issuance (issue.TestCa) and `roamline hil card serve`."""
