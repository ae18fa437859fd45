"""What the public registration pages say, per language (``Counterparty.language``: fr, en).

Data, not code: one catalogue per language, the same keys in each (``tests`` check that);
``{name}`` placeholders are filled by ``say(lang, key, **values)``. Templates call ``t("key")``
(``registration.py`` puts it in their context); the form's checks call ``say`` with the page's
language, so a French counterparty reads French labels and French error messages. A channel is
named by its ``ch_<name>`` message, or, for one the catalogues do not know (a plug-in's), by its
own ``label`` (``channel_labels``).
"""
from __future__ import annotations

from typing import Any

from gateway.delivery.channel import registry

LANGUAGES = ("fr", "en")
DEFAULT = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "brand_tagline": "e-invoicing network",
        "footer": "Questions? Write to",
        "switch": "Français",
        "register_title": "Register {name}",
        "register_h1": "Receive your invoices electronically",
        "register_lead": "Confirm who you are, tell us how you want to receive your invoices, and you are on the "
                         "network. It takes a few minutes; nothing is saved until you submit.",
        "errors_count": "{n} field(s) to correct below; everything else you typed is kept.",
        "s_company": "1. Your company", "s_contact": "2. Your contact",
        "s_channel": "3. How do you want to receive your invoices?", "s_terms": "4. Terms",
        "company_name": "Company name", "siret_hint": "14 digits, for an establishment in France",
        "siren_hint": "9 digits (the first nine of the SIRET)", "vat": "VAT number", "vat_hint": "e.g. FR40303265045",
        "gln_hint": "13 digits, if you have one", "company_email": "Company e-mail address",
        "contact_name": "Name", "contact_email": "E-mail address", "contact_phone": "Phone",
        "email_to": "Send them to", "email_to_hint": "one or more addresses, separated by commas",
        "email_subject": "Subject of the mails (optional)", "attached": "Attached",
        "portal_hint": "You log in with your contact e-mail address to see and download your invoices; we tell you "
                       "by e-mail when one arrives.",
        "password": "Choose a password", "password_hint": "at least {n} characters",
        "password2": "The same password again",
        "as2_url": "Your AS2 URL", "as2_url_hint": "where your server receives AS2 messages, e.g. "
                                                  "https://as2.example.com/receive",
        "as2_id": "Your AS2 id", "as2_id_hint": "the AS2-From of what you send",
        "as2_certificate": "Your AS2 certificate", "format": "Format",
        "fmt_ubl": "UBL 2.1 (XML, Peppol BIS 3)", "fmt_cii": "UN/CEFACT CII (XML)",
        "fmt_facturx": "Factur-X (PDF with embedded CII XML)", "fmt_edifact-d96a": "EDIFACT INVOIC D96A",
        "fmt_edifact-d01b": "EDIFACT INVOIC D01B",
        "kept": "Certificate received: {subject}, valid until {not_after}. Choose a file only to replace it.",
        "cert_hint": "PEM or DER, the certificate only (never your private key); RSA of 2048 bits or more, or EC.",
        "ssh_key": "Your SSH public key",
        "ssh_hint": "The line of your .pub file: \"ssh-ed25519 AAAA… comment\" (Ed25519, ECDSA, or RSA of 2048 bits "
                    "or more). Never your private key.",
        "network": "Your network", "choose": "choose…", "no_network": "No network is interconnected with us yet.",
        "accept_terms_1": "I accept the", "terms_link": "terms of use", "register_button": "Register",
        "ch_email": "By e-mail", "ch_portal": "On our web portal", "ch_as2": "AS2 (your AS2 server)",
        "ch_sftp": "SFTP (you fetch them from our server)", "ch_network": "Through a network you already belong to",
        # refused links
        "what_to_do": "What to do:",
        "forged_title": "This link is not valid",
        "forged_what": "The link does not read as one of ours: it may have been cut or changed when it was copied.",
        "forged_todo": "Open the link again from the e-mail (the whole of it), or ask us for a new invitation.",
        "unknown_title": "This link is not valid",
        "unknown_what": "The invitation this link belongs to no longer exists.",
        "unknown_todo": "Ask us for a new invitation.",
        "expired_title": "This link has expired",
        "expired_what": "Registration links are valid for a limited time, and this one's time is up.",
        "expired_todo": "Ask us for a new invitation: reply to the e-mail or write to the address below.",
        "used_title": "This link has already been used",
        "used_what": "A registration was submitted with this link already; each link registers once.",
        "used_todo": "If it was you, nothing more is needed: we have your registration. If not, contact us.",
        "revoked_title": "This link has been replaced",
        "revoked_what": "A newer invitation was sent to you, which cancelled this link.",
        "revoked_todo": "Use the link in the most recent e-mail from us.",
        "csrf_title": "Form refused",
        "csrf_message": "The form has expired or did not come from this site. Nothing was saved: go back, reload "
                        "the page and submit it again.",
        "oops_title": "Something went wrong on our side",
        "oops_message": "Nothing was registered. Please try again in a few minutes; if it keeps failing, write to us.",
        # opt-out
        "optout_title": "Unsubscribe", "optout_h1": "Stop our invitations",
        "optout_already": "{name} is already unsubscribed: we send it no more invitations or reminders.",
        "optout_ask": "We invited {name} to receive its invoices electronically. Confirm below and we will send it "
                      "no more invitations or reminders.",
        "optout_button": "Unsubscribe",
        "optout_done_title": "Unsubscribed", "optout_done_h1": "You are unsubscribed",
        "optout_done": "We will send {name} no more invitations or reminders. Changed your mind? Write to us and we "
                       "will send you a new link.",
        # confirmation
        "registered_title": "Registered", "registered_h1": "{name} is registered",
        "registered_lead": "Thank you. Your company is now an active partner of the network: invoices addressed "
                           "to it are delivered from now on. We will write to {email} if anything is needed.",
        "next_steps": "What happens next",
        # validation
        "e_name": "give your company's name", "e_name_long": "a company name has at most 200 characters",
        "e_identifier": "give at least one identifier: SIRET (French companies), VAT number or GLN",
        "e_company_email": "give your company's e-mail address",
        "e_contact_email": "give the contact's e-mail address",
        "e_not_email": "{value!r} is not an e-mail address (name@example.com)",
        "e_contact_name": "give the name of the person we can talk to",
        "e_contact_name_long": "a name has at most 200 characters",
        "e_phone": "{value!r} is not a phone number (digits, spaces, + ( ) . - /)",
        "e_channel": "choose how you want to receive your invoices",
        "e_email_to": "give the address(es) your invoices should be sent to",
        "e_password": "choose a password of at least {n} characters",
        "e_password2": "the two passwords differ",
        "e_format": "choose a format from the list",
        "e_as2_url_private": "this address cannot be reached from the Internet ({why}): give the public URL "
                             "of your AS2 server",
        "e_terms": "accept the terms of use to register",
    },
    "fr": {
        "brand_tagline": "réseau de facturation électronique",
        "footer": "Une question ? Écrivez à",
        "switch": "English",
        "register_title": "Inscription de {name}",
        "register_h1": "Recevez vos factures électroniquement",
        "register_lead": "Confirmez qui vous êtes, dites-nous comment recevoir vos factures, et vous êtes sur le "
                         "réseau. Cela prend quelques minutes ; rien n'est enregistré avant l'envoi.",
        "errors_count": "{n} champ(s) à corriger ci-dessous ; tout ce que vous avez saisi est conservé.",
        "s_company": "1. Votre entreprise", "s_contact": "2. Votre contact",
        "s_channel": "3. Comment voulez-vous recevoir vos factures ?", "s_terms": "4. Conditions",
        "company_name": "Raison sociale", "siret_hint": "14 chiffres, pour un établissement en France",
        "siren_hint": "9 chiffres (les neuf premiers du SIRET)", "vat": "Numéro de TVA",
        "vat_hint": "p. ex. FR40303265045", "gln_hint": "13 chiffres, si vous en avez un",
        "company_email": "Adresse e-mail de l'entreprise",
        "contact_name": "Nom", "contact_email": "Adresse e-mail", "contact_phone": "Téléphone",
        "email_to": "Les envoyer à", "email_to_hint": "une ou plusieurs adresses, séparées par des virgules",
        "email_subject": "Objet des e-mails (facultatif)", "attached": "En pièce jointe",
        "portal_hint": "Vous vous connectez avec l'adresse e-mail du contact pour consulter et télécharger vos "
                       "factures ; nous vous prévenons par e-mail à chaque nouvelle facture.",
        "password": "Choisissez un mot de passe", "password_hint": "au moins {n} caractères",
        "password2": "Le même mot de passe encore",
        "as2_url": "Votre URL AS2", "as2_url_hint": "où votre serveur reçoit les messages AS2, p. ex. "
                                                   "https://as2.example.com/receive",
        "as2_id": "Votre identifiant AS2", "as2_id_hint": "l'AS2-From de ce que vous envoyez",
        "as2_certificate": "Votre certificat AS2", "format": "Format",
        "fmt_ubl": "UBL 2.1 (XML, Peppol BIS 3)", "fmt_cii": "UN/CEFACT CII (XML)",
        "fmt_facturx": "Factur-X (PDF avec le XML CII intégré)", "fmt_edifact-d96a": "EDIFACT INVOIC D96A",
        "fmt_edifact-d01b": "EDIFACT INVOIC D01B",
        "kept": "Certificat reçu : {subject}, valable jusqu'au {not_after}. Choisissez un fichier seulement pour le "
                "remplacer.",
        "cert_hint": "PEM ou DER, le certificat seul (jamais votre clé privée) ; RSA de 2048 bits ou plus, ou EC.",
        "ssh_key": "Votre clé publique SSH",
        "ssh_hint": "La ligne de votre fichier .pub : « ssh-ed25519 AAAA… commentaire » (Ed25519, ECDSA, ou RSA de "
                    "2048 bits ou plus). Jamais votre clé privée.",
        "network": "Votre réseau", "choose": "choisir…", "no_network": "Aucun réseau n'est encore interconnecté avec nous.",
        "accept_terms_1": "J'accepte les", "terms_link": "conditions d'utilisation", "register_button": "S'inscrire",
        "ch_email": "Par e-mail", "ch_portal": "Sur notre portail web", "ch_as2": "AS2 (votre serveur AS2)",
        "ch_sftp": "SFTP (vous les récupérez sur notre serveur)",
        "ch_network": "Par un réseau dont vous êtes déjà membre",
        "what_to_do": "Que faire :",
        "forged_title": "Ce lien n'est pas valide",
        "forged_what": "Ce lien ne correspond à aucun des nôtres : il a peut-être été coupé ou modifié lors d'un "
                       "copier-coller.",
        "forged_todo": "Ouvrez à nouveau le lien depuis l'e-mail (en entier), ou demandez-nous une nouvelle invitation.",
        "unknown_title": "Ce lien n'est pas valide",
        "unknown_what": "L'invitation à laquelle ce lien appartient n'existe plus.",
        "unknown_todo": "Demandez-nous une nouvelle invitation.",
        "expired_title": "Ce lien a expiré",
        "expired_what": "Les liens d'inscription sont valables un temps limité, et celui-ci a expiré.",
        "expired_todo": "Demandez-nous une nouvelle invitation : répondez à l'e-mail ou écrivez à l'adresse ci-dessous.",
        "used_title": "Ce lien a déjà été utilisé",
        "used_what": "Une inscription a déjà été envoyée avec ce lien ; chaque lien ne sert qu'une fois.",
        "used_todo": "Si c'était vous, rien de plus à faire : nous avons votre inscription. Sinon, contactez-nous.",
        "revoked_title": "Ce lien a été remplacé",
        "revoked_what": "Une invitation plus récente vous a été envoyée, qui annule ce lien.",
        "revoked_todo": "Utilisez le lien du plus récent de nos e-mails.",
        "csrf_title": "Formulaire refusé",
        "csrf_message": "Le formulaire a expiré ou ne vient pas de ce site. Rien n'a été enregistré : revenez en "
                        "arrière, rechargez la page et envoyez-le à nouveau.",
        "oops_title": "Un problème est survenu de notre côté",
        "oops_message": "Rien n'a été enregistré. Réessayez dans quelques minutes ; si cela persiste, écrivez-nous.",
        "optout_title": "Désinscription", "optout_h1": "Ne plus recevoir nos invitations",
        "optout_already": "{name} est déjà désinscrite : nous ne lui envoyons plus d'invitation ni de relance.",
        "optout_ask": "Nous avons invité {name} à recevoir ses factures électroniquement. Confirmez ci-dessous et "
                      "nous ne lui enverrons plus d'invitation ni de relance.",
        "optout_button": "Me désinscrire",
        "optout_done_title": "Désinscrit", "optout_done_h1": "Vous êtes désinscrit",
        "optout_done": "Nous n'enverrons plus d'invitation ni de relance à {name}. Vous avez changé d'avis ? "
                       "Écrivez-nous et nous vous enverrons un nouveau lien.",
        "registered_title": "Inscription enregistrée", "registered_h1": "{name} est inscrite",
        "registered_lead": "Merci. Votre entreprise est désormais partenaire actif du réseau : les factures qui lui "
                           "sont adressées lui sont livrées dès maintenant. Nous écrirons à {email} si besoin.",
        "next_steps": "La suite",
        "e_name": "indiquez la raison sociale de votre entreprise",
        "e_name_long": "une raison sociale compte au plus 200 caractères",
        "e_identifier": "indiquez au moins un identifiant : SIRET (entreprises françaises), numéro de TVA ou GLN",
        "e_company_email": "indiquez l'adresse e-mail de votre entreprise",
        "e_contact_email": "indiquez l'adresse e-mail du contact",
        "e_not_email": "{value!r} n'est pas une adresse e-mail (nom@exemple.fr)",
        "e_contact_name": "indiquez le nom de la personne à contacter",
        "e_contact_name_long": "un nom compte au plus 200 caractères",
        "e_phone": "{value!r} n'est pas un numéro de téléphone (chiffres, espaces, + ( ) . - /)",
        "e_channel": "choisissez comment recevoir vos factures",
        "e_email_to": "indiquez la ou les adresses où envoyer vos factures",
        "e_password": "choisissez un mot de passe d'au moins {n} caractères",
        "e_password2": "les deux mots de passe diffèrent",
        "e_format": "choisissez un format dans la liste",
        "e_as2_url_private": "cette adresse n'est pas joignable depuis Internet ({why}) : indiquez l'URL "
                             "publique de votre serveur AS2",
        "e_terms": "acceptez les conditions d'utilisation pour vous inscrire",
    },
}


def pick(lang: object) -> str:
    """``lang`` if it is one of ours, else the default."""
    return lang if lang in LANGUAGES else DEFAULT        # type: ignore[return-value]


def say(lang: str, key: str, **values: Any) -> str:
    """The message ``key`` in ``lang`` (English when that language lacks it), filled with ``values``."""
    text = MESSAGES.get(lang, {}).get(key) or MESSAGES[DEFAULT][key]
    return text.format(**values) if values else text


def say_or(lang: str, key: str, default: str, **values: Any) -> str:
    """The message ``key`` when a catalogue has it (as ``say``), else ``default``."""
    if key in MESSAGES.get(lang, {}) or key in MESSAGES[DEFAULT]:
        return say(lang, key, **values)
    return default


def channel_labels(lang: str) -> dict[str, str]:
    """Every channel's name as people read it: the catalogue's ``ch_<name>`` (how the form asks,
    e.g. "By e-mail"), else the channel's own ``label``, else its name."""
    out = {}
    for name in registry.names():
        channel = registry.get(name)
        out[name] = say_or(lang, f"ch_{name}", (channel.label if channel is not None else "") or name)
    return out


def format_labels(lang: str, flavours: list[str]) -> dict[str, str]:
    """Each flavour as people read it: the catalogue's ``fmt_<flavour>``, else the flavour's own
    summary (its mapping file's), else its name."""
    from gateway.syntaxes import flavours as all_flavours
    known = {f.name: f for f in all_flavours()}
    return {f: say_or(lang, f"fmt_{f}", getattr(known.get(f), "summary", "") or f) for f in flavours}
