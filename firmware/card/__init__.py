"""The box's card side: sans-I/O APDU/TLV (apdu, tlv), the PIV client (piv) and the supervised PC/SC
reader loop (reader). See DESIGN §4.2."""
