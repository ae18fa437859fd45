"""Transports: how bytes reach partners and come back from them (AS2, later SFTP, mail).

A transport knows partners, certificates and bytes; it knows nothing of invoices.
"""
