"""What the public registration pages say: each message's key and its English wording, translated
by the one catalogue (``gateway.i18n``, ``gateway/translations``) into the page's language.

Data, not code: a key here, its French in the catalogue (``make translations``; the catalogue
test fails while one is missing). ``%(name)s`` placeholders are filled by
``say(lang, key, **values)``; a ``value`` (what the visitor typed, shown back in an error) is
quoted as it was typed. Templates call ``t("key")`` (``registration.py`` puts it in their
context, in the page's language); the form's checks call ``say`` with the page's language, so
a French counterparty reads French labels and French error messages. A channel is named by
its ``ch_<name>`` message, or, for one the catalogue does not know (a plug-in's), by its own
``label`` (``channel_labels``).
"""
from __future__ import annotations

from typing import Any

from gateway import i18n
from gateway.delivery.channel import registry
from gateway.i18n import N_, NP_

LANGUAGES = i18n.LANGUAGES
DEFAULT = i18n.DEFAULT

MESSAGES: dict[str, Any] = {
    'brand_tagline': N_('e-invoicing network'),
    'footer': N_('Questions? Write to'),
    'switch': N_('Français'),
    'register_title': N_('Register %(name)s'),
    'register_h1': N_('Receive your invoices electronically'),
    'register_lead': N_('Confirm who you are, tell us how you want to receive your invoices, and you are on the network. It takes a few minutes; nothing is saved until you submit.'),
    'errors_count': N_('%(n)s field(s) to correct below; everything else you typed is kept.'),
    's_company': N_('1. Your company'),
    's_contact': N_('2. Your contact'),
    's_channel': N_('3. How do you want to receive your invoices?'),
    's_terms': N_('4. Terms'),
    'company_name': N_('Company name'),
    'siret_hint': N_('14 digits, for an establishment in France'),
    'siren_hint': N_('9 digits (the first nine of the SIRET)'),
    'vat': N_('VAT number'),
    'vat_hint': N_('e.g. FR40303265045'),
    'gln_hint': N_('13 digits, if you have one'),
    'company_email': N_('Company e-mail address'),
    'contact_name': N_('Name'),
    'contact_email': N_('E-mail address'),
    'contact_phone': N_('Phone'),
    'email_to': N_('Send them to'),
    'email_to_hint': N_('one or more addresses, separated by commas'),
    'email_subject': N_('Subject of the mails (optional)'),
    'attached': N_('Attached'),
    'portal_hint': N_('You log in with your contact e-mail address to see and download your invoices; we tell you by e-mail when one arrives.'),
    'password': N_('Choose a password'),
    'password_hint': N_('at least %(n)s characters'),
    'password2': N_('The same password again'),
    'as2_url': N_('Your AS2 URL'),
    'as2_url_hint': N_('where your server receives AS2 messages, e.g. https://as2.example.com/receive'),
    'as2_id': N_('Your AS2 id'),
    'as2_id_hint': N_('the AS2-From of what you send'),
    'as2_certificate': N_('Your AS2 certificate'),
    'format': N_('Format'),
    'kept': N_('Certificate received: %(subject)s, valid until %(not_after)s. Choose a file only to replace it.'),
    'cert_hint': N_('PEM or DER, the certificate only (never your private key); RSA of 2048 bits or more, or EC.'),
    'ssh_key': N_('Your SSH public key'),
    'ssh_hint': N_('The line of your .pub file: "ssh-ed25519 AAAA… comment" (Ed25519, ECDSA, or RSA of 2048 bits or more). Never your private key.'),
    'network': N_('Your network'),
    'choose': N_('choose…'),
    'no_network': N_('No network is interconnected with us yet.'),
    'accept_terms_1': N_('I accept the'),
    'terms_link': N_('terms of use'),
    'register_button': N_('Register'),
    'ch_email': N_('By e-mail'),
    'ch_portal': N_('On our web portal'),
    'ch_as2': N_('AS2 (your AS2 server)'),
    'ch_sftp': N_('SFTP (you fetch them from our server)'),
    'ch_network': N_('Through a network you already belong to'),
    'what_to_do': N_('What to do:'),
    'forged_title': N_('This link is not valid'),
    'forged_what': N_('The link does not read as one of ours: it may have been cut or changed when it was copied.'),
    'forged_todo': N_('Open the link again from the e-mail (the whole of it), or ask us for a new invitation.'),
    'unknown_title': N_('This link is not valid'),
    'unknown_what': N_('The invitation this link belongs to no longer exists.'),
    'unknown_todo': N_('Ask us for a new invitation.'),
    'expired_title': N_('This link has expired'),
    'expired_what': N_("Registration links are valid for a limited time, and this one's time is up."),
    'expired_todo': N_('Ask us for a new invitation: reply to the e-mail or write to the address below.'),
    'used_title': N_('This link has already been used'),
    'used_what': N_('A registration was submitted with this link already; each link registers once.'),
    'used_todo': N_('If it was you, nothing more is needed: we have your registration. If not, contact us.'),
    'revoked_title': N_('This link has been replaced'),
    'revoked_what': N_('A newer invitation was sent to you, which cancelled this link.'),
    'revoked_todo': N_('Use the link in the most recent e-mail from us.'),
    'csrf_title': N_('Form refused'),
    'csrf_message': N_('The form has expired or did not come from this site. Nothing was saved: go back, reload the page and submit it again.'),
    'oops_title': N_('Something went wrong on our side'),
    'oops_message': N_('Nothing was registered. Please try again in a few minutes; if it keeps failing, write to us.'),
    'optout_title': N_('Unsubscribe'),
    'optout_h1': N_('Stop our invitations'),
    'optout_already': N_('%(name)s is already unsubscribed: we send it no more invitations or reminders.'),
    'optout_ask': N_('We invited %(name)s to receive its invoices electronically. Confirm below and we will send it no more invitations or reminders.'),
    'optout_button': NP_('button', 'Unsubscribe'),
    'optout_done_title': N_('Unsubscribed'),
    'optout_done_h1': N_('You are unsubscribed'),
    'optout_done': N_('We will send %(name)s no more invitations or reminders. Changed your mind? Write to us and we will send you a new link.'),
    'registered_title': N_('Registered'),
    'registered_h1': N_('%(name)s is registered'),
    'registered_lead': N_('Thank you. Your company is now an active partner of the network: invoices addressed to it are delivered from now on. We will write to %(email)s if anything is needed.'),
    'next_steps': N_('What happens next'),
    'e_name': N_("give your company's name"),
    'e_name_long': N_('a company name has at most 200 characters'),
    'e_identifier': N_('give at least one identifier: SIRET (French companies), VAT number or GLN'),
    'e_company_email': N_("give your company's e-mail address"),
    'e_contact_email': N_("give the contact's e-mail address"),
    'e_not_email': N_('%(value)s is not an e-mail address (name@example.com)'),
    'e_contact_name': N_('give the name of the person we can talk to'),
    'e_contact_name_long': N_('a name has at most 200 characters'),
    'e_phone': N_('%(value)s is not a phone number (digits, spaces, + ( ) . - /)'),
    'e_channel': N_('choose how you want to receive your invoices'),
    'e_email_to': N_('give the address(es) your invoices should be sent to'),
    'e_password': N_('choose a password of at least %(n)s characters'),
    'e_password2': N_('the two passwords differ'),
    'e_format': N_('choose a format from the list'),
    'e_as2_url_private': N_('this address cannot be reached from the Internet (%(why)s): give the public URL of your AS2 server'),
    'e_terms': N_('accept the terms of use to register'),
    'done_email': N_('Your invoices will be sent to %(to)s.'),
    'done_email_subject': N_('Your invoices will be sent to %(to)s, with the subject “%(subject)s”.'),
    'done_portal': N_('Log in at %(url)s with the username %(username)s and the password you chose. We tell %(notify)s when an invoice arrives.'),
    'our_as2_endpoint': N_('Our AS2 endpoint'),
    'our_as2_id': N_('Our AS2 id'),
    'we_send_it': N_('(we will send it to you)'),
    'our_certificate': N_('Our certificate'),
    'download_it': N_('download it'),
    'add_it': N_('and add it to your AS2 server'),
    'we_will_send_it': N_('we will send it to you'),
    'your_as2_id': N_('Your AS2 id'),
    'where_we_send': N_('Where we send'),
    'as2_setup': N_('Set us up as a partner on your AS2 server with these settings; messages are signed (SHA-256) and encrypted (AES-256), and we ask for signed receipts (MDN).'),
    'server': N_('Server'),
    'your_account': N_('Your account'),
    'your_key': N_('Your key'),
    'sftp_folders': N_('Fetch your invoices from %(outbound)s; drop the invoices you send in %(inbound)s.'),
    'done_network': N_('Your invoices reach you through %(network)s, as that network delivers them.'),
    'done_other': N_('We deliver your invoices the way you chose, %(channel)s.'),
    'done_other_settings': N_('We deliver your invoices the way you chose, %(channel)s, with these settings:'),
    'no_registration': N_('There is no registration of yours to show here. If you submitted one, it was received: we will write to you.'),
    'registration_gone': N_('This registration is no longer on record.'),
    'too_large': N_('What you sent is too large (a certificate is a few kilobytes): choose the right file.'),
    'no_certificate': N_('No certificate of ours is configured yet: write to us and we will send it.'),
    'conflict': N_('something you gave was registered by someone else meanwhile: check the form and submit again'),
    'required': N_('required'),
    # a supplier campaign's form: how it will send us its invoices (sending_form)
    's_sending': N_('How will you send us your invoices?'),
    'sending_lead': N_('We receive your invoices the way that suits you: choose one.'),
    'sb_portal': N_('Upload them on our portal'),
    'sb_email': N_('E-mail them to our address'),
    'sb_as2': N_('AS2, from your AS2 server'),
    'sb_sftp': N_('SFTP: drop them on our server'),
    'sb_pa': N_('Through your certified platform (PA, French e-invoicing reform)'),
    'sb_peppol': N_('Over Peppol'),
    'sends_from': N_('The address you send them from'),
    'sends_as2_id': N_('Your AS2 id (the AS2-From of what you send)'),
    'sends_as2_same': N_('empty: the one you gave above'),
    'sends_sftp_same': N_('If you also fetch your invoices from us over SFTP, that account and key serve: leave this empty.'),
    'sends_platform': N_('Your platform'),
    'sends_routing': N_('Your address at the platform (optional)'),
    'sends_routing_hint': N_('as the French directory lists it: SIREN, SIREN_SIRET or SIREN_routing code'),
    'sends_participant': N_('Your Peppol participant id'),
    'sends_participant_hint': N_('scheme and value, e.g. 0009:73282932000074 or 0208:0123456789'),
    'e_sends_by': N_('choose how you will send us your invoices'),
    'e_sends_from': N_('give the address you will send your invoices from'),
    'e_sends_as2_id': N_('give your AS2 id (1 to 128 printable characters, no spaces)'),
    'e_sends_platform': N_('give the name of your platform'),
    'e_sends_participant': N_('give your Peppol participant as scheme:value, e.g. 0009:73282932000074'),
}


def pick(lang: object) -> str:
    """``lang`` if it is one of ours, else the default."""
    return lang if lang in LANGUAGES else DEFAULT        # type: ignore[return-value]


def say(lang: str, key: str, **values: Any) -> str:
    """The message ``key`` in ``lang``, filled with ``values``."""
    msgid = MESSAGES[key]
    text = i18n.pgettext(lang, *msgid) if isinstance(msgid, tuple) else i18n.gettext(lang, msgid)
    if "value" in values:
        values["value"] = repr(values["value"])
    return text % values if values else text


def say_or(lang: str, key: str, default: str, **values: Any) -> str:
    """The message ``key`` when the catalogue has it (as ``say``), else ``default``."""
    return say(lang, key, **values) if key in MESSAGES else default


def channel_labels(lang: str) -> dict[str, str]:
    """Every channel's name as people read it: the catalogue's ``ch_<name>`` (how the form asks,
    e.g. "By e-mail"), else the channel's own ``label``, else its name."""
    out = {}
    for name in registry.names():
        channel = registry.get(name)
        out[name] = say_or(lang, f"ch_{name}", (channel.label if channel is not None else "") or name)
    return out


def format_labels(lang: str, flavours: list[str]) -> dict[str, str]:
    """Each flavour as people read it: its summary in ``lang`` (its mapping file's ``summary`` or
    ``summary_fr``: the wording is data beside the mapping), else its name."""
    from gateway.syntaxes import flavours as all_flavours
    known = {f.name: f for f in all_flavours()}
    return {f: (known[f].summary_in(lang) if f in known else "") or f for f in flavours}
