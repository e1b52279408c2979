"""English and French. Templates write the English text; French comes from this table.

The language is the one the reader chose (kept in a cookie), else the best match of the
browser's Accept-Language, else English.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("en", "fr")

FR: dict[str, str] = {
    "Archive it": "Archiver",
    "Archived.": "Archivé.",
    "Empty %s": "Vider %s",
    "Delete the %d messages of %s for good?": "Supprimer définitivement les %d messages de %s ?",
    "Emptied.": "Vidé.",
    "Sign in": "Se connecter",
    "Sign out": "Se déconnecter",
    "Address": "Adresse",
    "Password": "Mot de passe",
    "Wrong address or password.": "Adresse ou mot de passe incorrect.",
    "Too many failed attempts; try again later.": "Trop d'échecs ; réessayez plus tard.",
    "Your session has expired; sign in again.": "Votre session a expiré ; reconnectez-vous.",
    "Inbox": "Boîte de réception",
    "Sent": "Envoyés",
    "Drafts": "Brouillons",
    "Junk": "Indésirables",
    "Trash": "Corbeille",
    "Archive": "Archives",
    "Folders": "Dossiers",
    "New folder": "Nouveau dossier",
    "Create": "Créer",
    "Rename": "Renommer",
    "Delete": "Supprimer",
    "Delete folder": "Supprimer le dossier",
    "Delete the folder %s and every message in it?": "Supprimer le dossier %s et tous ses messages ?",
    "Cancel": "Annuler",
    "Parent folder": "Dossier parent",
    "(top level)": "(racine)",
    "Name": "Nom",
    "New name": "Nouveau nom",
    "Compose": "Écrire",
    "Search": "Rechercher",
    "Search mail": "Rechercher dans le courrier",
    "Contacts": "Contacts",
    "Mark read": "Marquer lu",
    "Mark unread": "Marquer non lu",
    "Flag": "Suivre",
    "Unflag": "Ne plus suivre",
    "Move to…": "Déplacer vers…",
    "Move": "Déplacer",
    "Select all": "Tout sélectionner",
    "Select": "Sélectionner",
    "No messages.": "Aucun message.",
    "Newer": "Plus récents",
    "Older": "Plus anciens",
    "%d–%d of %d": "%d–%d sur %d",
    "(no subject)": "(sans objet)",
    "From": "De",
    "To": "À",
    "Cc": "Cc",
    "Bcc": "Cci",
    "Subject": "Objet",
    "Date": "Date",
    "Reply": "Répondre",
    "Reply all": "Répondre à tous",
    "Forward": "Transférer",
    "Show original": "Afficher l'original",
    "Attachments": "Pièces jointes",
    "Remote images are hidden to protect your privacy.": "Les images distantes sont masquées pour protéger votre vie privée.",  # noqa: E501
    "Show images": "Afficher les images",
    "Show quoted text": "Afficher le texte cité",
    "Verified sender": "Expéditeur vérifié",
    "This message failed the sender domain's checks (DMARC): it may be forged.": "Ce message a échoué aux contrôles du domaine expéditeur (DMARC) : il est peut-être falsifié.",  # noqa: E501
    "Conversation": "Conversation",
    "in %s": "dans %s",
    "Send": "Envoyer",
    "Save draft": "Enregistrer le brouillon",
    "Message": "Message",
    "Add attachments": "Joindre des fichiers",
    "Keep": "Garder",
    "Message sent.": "Message envoyé.",
    "Draft saved.": "Brouillon enregistré.",
    "The message was not sent: %s. It was kept in Drafts.": "Le message n'a pas été envoyé : %s. Il a été gardé dans les brouillons.",  # noqa: E501
    "no recipient": "aucun destinataire",
    "invalid address %s": "adresse invalide %s",
    "no such local user %s": "utilisateur local inconnu %s",
    "you have sent too many messages; try again later": "vous avez envoyé trop de messages ; réessayez plus tard",
    "a recipient's mailbox is full": "la boîte d'un destinataire est pleine",
    "attachments are too large": "les pièces jointes sont trop volumineuses",
    "you may not send as this address": "vous ne pouvez pas envoyer avec cette adresse",
    "Sent, but the copy in Sent could not be saved (quota).": "Envoyé, mais la copie dans Envoyés n'a pas pu être enregistrée (quota).",  # noqa: E501
    "Filters": "Filtres",
    "Everywhere": "Partout",
    "Anywhere": "N'importe où",
    "In": "Dans",
    "Folder": "Dossier",
    "Since": "Depuis",
    "Until": "Jusqu'au",
    "Unread": "Non lus",
    "Flagged": "Suivis",
    "With attachments": "Avec pièces jointes",
    "Body": "Corps",
    "Attachment names": "Noms des pièces jointes",
    "%d results": "%d résultats",
    "Phone": "Téléphone",
    "Notes": "Notes",
    "Save": "Enregistrer",
    "Add contact": "Ajouter un contact",
    "Import vCard": "Importer des vCard",
    "Export vCard": "Exporter en vCard",
    "Import": "Importer",
    "%d contacts imported.": "%d contacts importés.",
    "Edit": "Modifier",
    "No contacts.": "Aucun contact.",
    "Language": "Langue",
    "Keyboard shortcuts": "Raccourcis clavier",
    "Shortcuts: c compose, / search, j/k next/previous, r reply, a reply all, f forward, # delete, u back": "Raccourcis : c écrire, / rechercher, j/k suivant/précédent, r répondre, a répondre à tous, f transférer, # supprimer, u retour",  # noqa: E501
    "Folder created.": "Dossier créé.",
    "Folder renamed.": "Dossier renommé.",
    "Folder deleted.": "Dossier supprimé.",
    "Moved to %s.": "Déplacé vers %s.",
    "Deleted.": "Supprimé.",
    "Done.": "Fait.",
    "That folder name cannot be used.": "Ce nom de dossier ne peut pas être utilisé.",
    "A folder with that name exists already.": "Un dossier de ce nom existe déjà.",
    "Back": "Retour",
    "unread": "non lus",
    "Mail": "Courrier",
    "Skip to content": "Aller au contenu",
    "Has attachments": "Contient des pièces jointes",
    "Download": "Télécharger",
    "me": "moi",
    "Main": "Principal",
    "Messages": "Messages",
    "Request refused (security check). Reload the page and try again.": "Requête refusée (contrôle de sécurité). Rechargez la page et réessayez.",  # noqa: E501
    "Not found.": "Introuvable.",
    "The folder contains subfolders; delete them first.": "Le dossier contient des sous-dossiers ; supprimez-les d'abord.",  # noqa: E501
    "This folder cannot be changed.": "Ce dossier ne peut pas être modifié.",
    "Formatting": "Mise en forme",
    "Bold": "Gras",
    "Italic": "Italique",
    "Bulleted list": "Liste à puces",
    "Numbered list": "Liste numérotée",
    "Link": "Lien",
    "Link address (https://…)": "Adresse du lien (https://…)",
    "Quote": "Citation",
    "Attachments: %s at most in all.": "Pièces jointes : %s au plus en tout.",
    "These attachments are too large: %s at most in all.": "Ces pièces jointes sont trop lourdes : %s au plus en tout.",
    "Draft saved at %s.": "Brouillon enregistré à %s.",
    "the draft could not be saved": "le brouillon n'a pas pu être enregistré",
    "Settings": "Réglages",
    "Settings saved.": "Réglages enregistrés.",
    "Signature": "Signature",
    "Be careful: this message may be phishing.": "Attention : ce message est peut-être une tentative d'hameçonnage.",
    "This message looks like an attempt to steal your password or money.": (
        "Ce message ressemble à une tentative de vol de mot de passe ou d'argent."
    ),
    "Its links are disabled. Do not enter a password or pay anything from this message. They point to:": (
        "Ses liens sont désactivés. Ne saisissez aucun mot de passe et ne payez rien depuis ce message."
        " Ils mènent vers :"
    ),
    "Why is this in Junk?": "Pourquoi ce message est-il dans Indésirables ?",
    "The spam filter gave it %s points:": "Le filtre anti-spam lui a donné %s points :",
    "It was moved here by you or by your mail program, not by the spam filter.": (
        "Il a été déplacé ici par vous ou par votre logiciel de messagerie, pas par le filtre anti-spam."
    ),
    "Spam": "Spam",
    "Not spam": "Pas du spam",
    "Marked as spam and moved to Junk.": "Signalé comme spam et déplacé dans Indésirables.",
    "Marked as not spam and moved to Inbox.": "Signalé comme légitime et déplacé dans la boîte de réception.",
    "Dangerous attachments were taken out of this message.": (
        "Des pièces jointes dangereuses ont été retirées de ce message."
    ),
    "The original was released to your Inbox.": "L'original a été remis dans votre boîte de réception.",
    "Release the original": "Remettre l'original",
    "Only if you trust the sender and expected these files.": (
        "Seulement si vous connaissez l'expéditeur et attendiez ces fichiers."
    ),
    "The original is no longer held.": "L'original n'est plus conservé.",
    "The original message, with its attachments, is in your Inbox.": (
        "Le message original, avec ses pièces jointes, est dans votre boîte de réception."
    ),
    "This message was already released.": "Ce message a déjà été remis.",
    'Added below new messages, replies and forwards, after a "-- " line.': (
        "Ajoutée sous les nouveaux messages, réponses et transferts, après une ligne « -- »."
    ),
    # Drag and drop, forwarding choices, upload progress.
    "Forward as attachment": "Transférer en pièce jointe",
    "Forwarded as an attachment": "Transféré en pièce jointe",
    "You can also drop files onto this form.": "Vous pouvez aussi déposer des fichiers sur ce formulaire.",
    "Files to attach": "Fichiers à joindre",
    "Sending": "Envoi",
    # Previews and remote images.
    "Preview": "Aperçu",
    "Always for this sender": "Toujours pour cet expéditeur",
    "Images from %s will always be shown.": "Les images de %s seront toujours affichées.",
    "Remote images from this sender are always shown.": (
        "Les images distantes de cet expéditeur sont toujours affichées."
    ),
    "Change": "Modifier",
    "Remote images": "Images distantes",
    "Remote images in messages from these senders are always shown.": (
        "Les images distantes des messages de ces expéditeurs sont toujours affichées."
    ),
    "Remote images are hidden in every message until you choose to show them.": (
        "Les images distantes restent masquées dans chaque message tant que vous ne choisissez pas de les afficher."
    ),
    "Stop showing images from %s": "Ne plus afficher les images de %s",
    "Remove": "Retirer",
    # Keyboard shortcuts help.
    "Write a new message": "Écrire un nouveau message",
    "Next message in the list": "Message suivant de la liste",
    "Previous message in the list": "Message précédent de la liste",
    "Select the message in the list": "Sélectionner le message de la liste",
    "Back to the list": "Retour à la liste",
    "Show this help": "Afficher cette aide",
    "Close this help": "Fermer cette aide",
    "Close": "Fermer",
}

TABLES = {"en": {}, "fr": FR}


def negotiate(accept_language: str) -> str:
    """The best of our languages for an Accept-Language header (q-values honoured)."""
    best, best_q = "en", -1.0
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > best_q and q > 0:
            best, best_q = primary, q - position * 1e-6
    return best


def translator(lang: str) -> Callable[..., str]:
    """`_("text")` or `_("%d of %d", a, b)` in the given language."""
    table = TABLES.get(lang, {})

    def translate(text: str, *args: object) -> str:
        found = table.get(text, text)
        return found % args if args else found

    return translate
