"""Finding whisperd on the LAN by name: mDNS/DNS-SD announcements and browsing (python-zeroconf).

``records`` says what is announced and reads announcements back (pure), ``advertise`` announces a
running server, ``browse`` finds servers for the CLI. Framework-free: the server hands the advertiser
what to announce; nothing here knows the runtime.
"""
