"""``edigate org`` and ``edigate sftp`` in French: their confirmations and refusals from the catalogue,
the shared public key checks (``gateway.partners.ssh_keys``) worded in the run's language, every
line judged against the French catalogue (tests/support/french_text.py). Runs on a fresh database
under tmp_path, in this process (click's runner)."""
from __future__ import annotations

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.transports.sftp.client import fingerprint
from tests.integration.test_cli_french import run
from tests.support.french_text import FrenchJudge


@pytest.fixture(autouse=True)
def english_again():
    """``--language`` is remembered by the root group for the run; tests that call a group
    directly (not through the root) must not inherit this test's French."""
    yield
    from gateway.cli import words
    words.ask(None)


def test_org_and_sftp_speak_french(tmp_path) -> None:
    judge = FrenchJudge.load()
    keys = tmp_path / "keys"
    keys.mkdir()
    private = keys / "acme"
    private.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    key = paramiko.Ed25519Key.from_private_key_file(str(private))
    public = keys / "acme.pub"
    public.write_text(f"ssh-ed25519 {key.get_base64()} acme@laptop\n")
    fp = fingerprint(key.asbytes())
    data = {"Notre Plateforme", "NOTRE-AS2", "Acme", "acme", fp, str(private), "ssh-ed25519", "sftp", "-",
            "edigate partner set 'Acme' --channel sftp", "edigate sftp account set acme …"}

    def french(*args: str, code: int = 0) -> list[str]:
        r = run(tmp_path, "--language", "fr", *args)
        assert r.exit_code == code, r.output
        lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        assert lines
        for line in lines:
            assert judge.verdict(line, data) is None, line
        return lines

    assert french("org", "add", "Notre Plateforme", "--as2-name", "NOTRE-AS2") == [
        "organisation Notre Plateforme : identité AS2 NOTRE-AS2, pas encore de clé"]
    assert french("org", "add", "Notre Plateforme", "--as2-name", "AUTRE", code=2) == [
        "Erreur : l'organisation « Notre Plateforme » existe déjà (ajoutez-lui des identités avec "
        "`edigate org identity add`)"]
    show = french("org", "show", "Notre Plateforme")
    assert show[1] == "  identités AS2 :" and show[-1] == "  certificats : aucun", show

    run(tmp_path, "partner", "add", "Acme")
    (line,) = french("sftp", "account", "add", "Acme", "--username", "acme", "--key", str(private), code=2)
    assert line.startswith(f"Erreur : {private} est une clé privée : donnez plutôt la clé PUBLIQUE"), line
    lines = french("sftp", "account", "add", "Acme", "--username", "acme", "--key", str(public))
    assert lines[0] == f"compte SFTP acme pour le partenaire Acme : clé ssh-ed25519 {fp}", lines
    assert lines[1].startswith("attention : le partenaire « Acme » utilise le canal - :"), lines
    assert french("sftp", "account", "set", "acme", "--remove-key", fp, code=2) == [
        "Erreur : le compte SFTP acme n'aurait plus ni mot de passe ni clé : ajoutez d'abord la nouvelle clé, "
        "ou désactivez le compte"]
    assert french("sftp", "account", "set", "acme", "--disable") == [
        "compte SFTP acme (partenaire Acme) : modifié : désactivé"]
    assert french("sftp", "poll", "Acme", code=2) == [
        "Erreur : le partenaire « Acme » n'a pas de serveur SFTP à lui enregistré (voir `edigate sftp remote set "
        "Acme …`)"]


def test_network_annuaire_and_onboarding_speak_french(tmp_path) -> None:
    judge = FrenchJudge.load()
    data = {"EU", "Nowhere", "1 Europe", "0088:4000001000005", "C.UTF-8"}

    def french(*args: str, code: int) -> str:
        r = run(tmp_path, "--language", "fr", *args)
        assert r.exit_code == code, r.output
        (line,) = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        assert judge.verdict(line, data) is None, line
        return line

    assert french("network", "add", "EU", code=2) == \
        "Erreur : un réseau a besoin de son point d'accès : --partner PARTENAIRE"
    assert french("network", "find", "0088:4000001000005", code=1) == \
        "Erreur : 0088:4000001000005 : ni membre ni annuaire de réseau ne le mentionne"
    assert french("annuaire", "refresh", code=3).startswith("Erreur : l'annuaire n'est pas configuré : renseignez")
    r = run(tmp_path, "--language", "fr", "onboarding", "campaign", "create", "Europe")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "campagne 1 : Europe (draft)"
    assert french("onboarding", "wave", "add", "1", "vague", "--at", "hier", code=2) == (
        "Erreur : « hier » : « now » ou une date et heure ISO attendue, par exemple 2026-03-01T09:00+01:00")
