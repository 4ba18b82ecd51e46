"""Where the box is: GPS fixes (NMEA receivers, gpsd), the fix validity policy, the network fingerprint,
moved detection and the PIDF-LO document an emergency call carries.

Sans-I/O cores (``nmea``, ``gpsd``, ``fix``, ``fingerprint``, ``moved``, ``pidf``) take bytes/text and
``now`` and return values; the adapters (``gpsd_client``, ``serial_source``) own the sockets and ports.
"""
